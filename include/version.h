/* version.h -- the one place the version lives. */
#ifndef LEAKPROXY_VERSION_H
#define LEAKPROXY_VERSION_H
#define LEAKPROXY_VERSION "0.1.0"
#endif
