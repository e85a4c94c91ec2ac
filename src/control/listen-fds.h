/*
 * The sockets systemd passes (socket activation, sd_listen_fds_with_names): lumiplugd.socket's
 * "control" and lumiplugd-metrics.socket's "metrics". Any other is closed with a warning.
 */
#pragma once

/* *ret_control / *ret_metrics: the fd, or -1 if none was passed. Takes them from systemd
 * (unsets LISTEN_FDS, so that children do not inherit them). */
int listen_fds_take(int *ret_control, int *ret_metrics);
