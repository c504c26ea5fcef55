/* Where fuse_log() output goes: stderr in the foreground, syslog after
 * daemonizing. */
#ifndef MFS_LOG_H
#define MFS_LOG_H

void mfs_log_to_syslog(void);

#endif
