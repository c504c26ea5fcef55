/* Where fuse_log() output goes: stderr in the foreground, syslog after
 * daemonizing, when stderr is gone. */
#include <fuse_log.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>

#include "fs/log.h"

/* What every message starts with for stderr; syslog has its own. */
#define LOG_PREFIX "menderfs: "

/* fuse_log levels are the syslog priorities, in the same order.  syslog
 * already names the program ("menderfs[PID]: "), and a record is a line:
 * the prefix and the newline that stderr needs would show twice, or as
 * "#012" in the log. */
static void syslog_sink(enum fuse_log_level level, const char *fmt,
			va_list ap)
{
	char line[1024];
	const char *text = line;
	size_t len;

	vsnprintf(line, sizeof(line), fmt, ap);
	len = strlen(line);
	while (len > 0 && line[len - 1] == '\n')
		line[--len] = '\0';
	if (strncmp(text, LOG_PREFIX, strlen(LOG_PREFIX)) == 0)
		text += strlen(LOG_PREFIX);
	if (*text)
		syslog((int)level, "%s", text);
}

void mfs_log_to_syslog(void)
{
	openlog("menderfs", LOG_PID, LOG_DAEMON);
	fuse_set_log_func(syslog_sink);
}
