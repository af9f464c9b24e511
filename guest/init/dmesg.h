/*
 * The guest kernel's log for the job's log file when the job failed: vmrun
 * adds `vmrun.dmesg=ttyS1` when it keeps a log (--log), and gives the guest
 * a second UART there whose output goes only to that file.
 */
#ifndef VMRUN_INIT_DMESG_H
#define VMRUN_INIT_DMESG_H

#include <stdint.h>

/*
 * Writes a header naming `status` and the last part of the kernel log to
 * the port the command line names, if it names one. Best effort: a failure
 * is said on the console and changes nothing else.
 */
void dmesg_to_log_port(const char *cmdline, const char *status);

#endif
