#!/usr/bin/env python3
"""Compare every entry of a mounted contents/NNNN/FILE/ with a reference.

    contents_compare.py dir REF MNT [--seconds] [--extra NAME]...
    contents_compare.py tar TARFILE MNT

REF is a directory (the tree an image was made from, or a loop mount of
the image); TARFILE is read with Python's tarfile.  For each entry: type,
permission bits (the reference's less the write bits: set-id kept),
owner, group, size, mtime (to the nanosecond, or the second with
--seconds, for formats that keep no more), symlink target, device
number, extended attributes, full content (SHA-256), and hard links (one
inode in the reference is one inode in the mount).  --extra NAME allows
a top-level entry the mount has and REF lacks (lost+found, when REF is
the source tree).  Prints each difference; exits 1 if there is any.
"""
import hashlib
import os
import stat
import sys
import tarfile
from decimal import Decimal

WRITE = 0o222


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, 'rb') as f:
        while True:
            b = f.read(1 << 20)
            if not b:
                break
            h.update(b)
    return h.hexdigest()


def xattrs_of(path):
    out = {}
    for name in os.listxattr(path, follow_symlinks=False):
        out[name] = os.getxattr(path, name, follow_symlinks=False)
    return out


def walk(root):
    """Every path under root, relative, without root itself."""
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            full = os.path.join(dirpath, name)
            yield os.path.relpath(full, root)


def entry_of_path(root, rel, with_content=True):
    full = os.path.join(root, rel)
    st = os.lstat(full)
    e = {
        'type': stat.S_IFMT(st.st_mode),
        'perm': stat.S_IMODE(st.st_mode),
        'uid': st.st_uid,
        'gid': st.st_gid,
        'mtime_ns': st.st_mtime_ns,
        'xattrs': xattrs_of(full),
        'ino': st.st_ino,
        'nlink': st.st_nlink,
    }
    if stat.S_ISREG(st.st_mode):
        e['size'] = st.st_size
        if with_content:
            e['sha256'] = sha256_file(full)
    if stat.S_ISLNK(st.st_mode):
        e['target'] = os.readlink(full)
        e['size'] = st.st_size
    if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
        e['rdev'] = st.st_rdev
    return e


def ref_of_dir(root):
    ref = {}
    for rel in walk(root):
        e = entry_of_path(root, rel)
        e['perm'] &= ~WRITE
        ref[rel] = e
    return ref


TAR_TYPES = {
    tarfile.REGTYPE: stat.S_IFREG, tarfile.AREGTYPE: stat.S_IFREG,
    tarfile.DIRTYPE: stat.S_IFDIR, tarfile.SYMTYPE: stat.S_IFLNK,
    tarfile.CHRTYPE: stat.S_IFCHR, tarfile.BLKTYPE: stat.S_IFBLK,
    tarfile.FIFOTYPE: stat.S_IFIFO,
}


def norm(name):
    while name.startswith('./'):
        name = name[2:]
    return name.rstrip('/')


def ref_of_tar(path):
    ref, links = {}, []
    with tarfile.open(path) as tf:
        for m in tf:
            rel = norm(m.name)
            if rel in ('', '.'):
                continue
            if m.type == tarfile.LNKTYPE:
                links.append((rel, norm(m.linkname)))
                continue
            xattrs = {}
            for k, v in m.pax_headers.items():
                if k.startswith('SCHILY.xattr.'):
                    xattrs[k[len('SCHILY.xattr.'):]] = \
                        v.encode('utf-8', 'surrogateescape')
            e = {
                'type': TAR_TYPES[m.type],
                'perm': m.mode & 0o7777 & ~WRITE,
                'uid': m.uid,
                'gid': m.gid,
                'mtime_ns': int(Decimal(m.pax_headers.get(
                    'mtime', str(m.mtime))) * 10**9),
                'xattrs': xattrs,
                'ino': rel,
            }
            if m.isreg():
                e['size'] = m.size
                e['sha256'] = hashlib.sha256(
                    tf.extractfile(m).read()).hexdigest()
            if m.issym():
                e['target'] = m.linkname
                e['size'] = len(m.linkname.encode())
            if m.ischr() or m.isblk():
                e['rdev'] = os.makedev(m.devmajor, m.devminor)
            ref[rel] = e
    for rel, target in links:
        e = dict(ref[target])
        ref[rel] = e
    return ref


def main():
    args = sys.argv[1:]
    seconds = '--seconds' in args
    extras = set()
    while '--extra' in args:
        i = args.index('--extra')
        extras.add(args[i + 1])
        del args[i:i + 2]
    args = [a for a in args if a != '--seconds']
    kind, refpath, mnt = args
    ref = ref_of_dir(refpath) if kind == 'dir' else ref_of_tar(refpath)
    diffs = []
    got = {}
    for rel in walk(mnt):
        got[rel] = entry_of_path(mnt, rel)
    for rel in sorted(set(ref) | set(got)):
        top = rel.split('/')[0]
        if rel not in got:
            diffs.append('%s: missing from the mount' % rel)
            continue
        if rel not in ref:
            if top not in extras:
                diffs.append('%s: not in the reference' % rel)
            continue
        r, g = ref[rel], got[rel]
        for key in ('type', 'perm', 'uid', 'gid', 'size', 'sha256',
                    'target', 'rdev', 'xattrs'):
            if r.get(key) != g.get(key):
                diffs.append('%s: %s is %r, expected %r' %
                             (rel, key, g.get(key), r.get(key)))
        if r['type'] != stat.S_IFDIR:
            rt, gt = r['mtime_ns'], g['mtime_ns']
            if seconds:
                rt, gt = rt // 10**9, gt // 10**9
            if rt != gt:
                diffs.append('%s: mtime is %d, expected %d' % (rel, gt, rt))
    # Hard links: the same reference inode is the same mount inode, and
    # distinct ones stay distinct.
    pairs = {}
    for rel in ref:
        if rel in got and ref[rel]['type'] != stat.S_IFDIR:
            pairs.setdefault(ref[rel]['ino'], set()).add(got[rel]['ino'])
    for ref_ino, inos in pairs.items():
        if len(inos) != 1:
            diffs.append('hard links of one inode show as %d inodes' %
                         len(inos))
    mount_inos = [next(iter(v)) for v in pairs.values()]
    if len(mount_inos) != len(set(mount_inos)):
        diffs.append('distinct files share an inode in the mount')
    for d in diffs:
        print(d)
    print('%d entries compared, %d differences' % (len(ref), len(diffs)))
    return 1 if diffs else 0


if __name__ == '__main__':
    sys.exit(main())
