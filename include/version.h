/* version.h -- the one place the version lives. The git revision is passed
 * by the Makefile (-DLEAKPROXY_REVISION, to the files that print it only);
 * a build without it (a tarball, the fuzz targets) says "unknown". */
#ifndef LEAKPROXY_VERSION_H
#define LEAKPROXY_VERSION_H
#define LEAKPROXY_VERSION "0.1.0"
#ifndef LEAKPROXY_REVISION
#define LEAKPROXY_REVISION "unknown"
#endif
#endif
