/* Where fuse_log() output goes: stderr in the foreground, syslog after
 * daemonizing, when stderr is gone. */
#include <fuse_log.h>
#include <syslog.h>

#include "fs/log.h"

/* fuse_log levels are the syslog priorities, in the same order. */
static void syslog_sink(enum fuse_log_level level, const char *fmt,
			va_list ap)
{
	vsyslog((int)level, fmt, ap);
}

void mfs_log_to_syslog(void)
{
	openlog("menderfs", LOG_PID, LOG_DAEMON);
	fuse_set_log_func(syslog_sink);
}
