/* ctl.h -- "leakproxy ctl", the command-line client of the admin API. */
#ifndef LEAKPROXY_CTL_H
#define LEAKPROXY_CTL_H

/* <argv> starts after "ctl". Returns the process exit code. */
int ctl_main(int argc, char **argv);
#endif
