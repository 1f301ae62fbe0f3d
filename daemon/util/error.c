// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * error.c: the daemon's error domain (see error.h).
 */
#include <errno.h>

#include "error.h"

G_DEFINE_QUARK(virtenergy-error-quark, ve_error)

VeErrorCode ve_error_from_errno(int errnum)
{
	switch (errnum) {
	case EINVAL:
	case ERANGE:
	case EFBIG:
	case ENAMETOOLONG:
	case EBADMSG:
		return VE_ERROR_INVALID;
	case ENOENT:
	case ESRCH:
	case ENODEV:
	case ENXIO:
		return VE_ERROR_NOT_FOUND;
	case EEXIST:
	case EBUSY:
		return VE_ERROR_EXISTS;
	case EACCES:
	case EPERM:
	case EROFS:
		return VE_ERROR_DENIED;
	case EOPNOTSUPP:
	case ENOSYS:
		return VE_ERROR_UNSUPPORTED;
	case ENOMEM:
		return VE_ERROR_NO_MEMORY;
	case EIO:
	case ENOSPC:
	case EPIPE:
	case ECONNRESET:
	case EAGAIN:
		return VE_ERROR_IO;
	default:
		return VE_ERROR_FAILED;
	}
}
