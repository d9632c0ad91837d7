#ifndef PARLEY_SD_NOTIFY_H
#define PARLEY_SD_NOTIFY_H
/*
 * systemd's notify protocol, in-house (no libsystemd): one datagram of
 * newline-separated KEY=VALUE lines to $NOTIFY_SOCKET. Does nothing when the
 * variable is unset, so it is safe to call outside systemd.
 */

/* Sends state (e.g. "READY=1\nSTATUS=serving"); returns 0, or -1 if it failed. */
int sd_notify_send(const char *state);
/* WATCHDOG_USEC when it applies to this process, else 0. */
unsigned long long sd_watchdog_usec(void);

#endif
