// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The util tier: the one atomic writer, the one reader for files a user
 * hands the daemon, and the log writer off the journal.
 */
#include <errno.h>
#include <stdbool.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "fileio.h"
#include "fixture.h"
#include "log.h"

static char *slurp(const struct fx *fx, const char *rel)
{
	char *text = NULL;

	check(ve_read_file_alloc_at(fx->fd, rel, 1 << 20, &text, NULL) == 0, "read %s back", rel);
	return text;
}

static void test_write_atomic(void **state)
{
	struct fx fx;
	struct stat st;
	const char *step = "unset";
	char *text;
	mode_t old_umask;
	int r;

	(void)state;
	fx_make(&fx);
	fx_mkdir(&fx, "sub");

	/* a new file, then a replacement; the mode asked for whatever the umask */
	old_umask = umask(0077);
	r = ve_write_file_atomic_at(fx.fd, "sub/a", "one\n", 4, 0644, VE_WRITE_SYNC | VE_WRITE_SYNC_DIR,
				    &step);
	umask(old_umask);
	check(r == 0 && step == NULL, "written (%d, step %s)", r, step ? step : "none");
	text = slurp(&fx, "sub/a");
	check(strcmp(text, "one\n") == 0, "content '%s'", text);
	free(text);
	check(fstatat(fx.fd, "sub/a", &st, 0) == 0 && (st.st_mode & 07777) == 0644,
	      "mode %o, not cut by the umask", (unsigned)(st.st_mode & 07777));
	check(ve_write_file_atomic_at(fx.fd, "sub/a", "two", 3, 0600, 0, NULL) == 0, "replaced");
	text = slurp(&fx, "sub/a");
	check(strcmp(text, "two") == 0, "new content '%s'", text);
	free(text);
	check(faccessat(fx.fd, "sub/a.tmp", F_OK, 0) < 0 && errno == ENOENT, "no temporary left");

	/* a link planted where the temporary goes is removed, not written through */
	fx_write(&fx, "victim", "keep\n");
	fx_symlink(&fx, "../victim", "sub/a.tmp");
	check(ve_write_file_atomic_at(fx.fd, "sub/a", "three", 5, 0600, VE_WRITE_SYNC, &step) == 0,
	      "written past a planted link");
	text = slurp(&fx, "victim");
	check(strcmp(text, "keep\n") == 0, "the link's target untouched: '%s'", text);
	free(text);

	/* a step that fails leaves the old file as it was, and says which */
	fx_mkdir(&fx, "sub/a.tmp");
	fx_write(&fx, "sub/a.tmp/x", "");
	r = ve_write_file_atomic_at(fx.fd, "sub/a", "four", 4, 0600, 0, &step);
	check(r < 0 && step && strcmp(step, "removing the stale") == 0 && ve_write_step_kept(step),
	      "a directory in the way: %d, step '%s'", r, step ? step : "none");
	text = slurp(&fx, "sub/a");
	check(strcmp(text, "three") == 0, "old content kept: '%s'", text);
	free(text);
	r = ve_write_file_atomic_at(fx.fd, "missing/a", "x", 1, 0600, 0, &step);
	check(r == -ENOENT && step && strcmp(step, "creating") == 0, "no directory: %d, step '%s'", r,
	      step ? step : "none");
	fx_mkdir(&fx, "sub/d");
	fx_write(&fx, "sub/d/inside", "");
	r = ve_write_file_atomic_at(fx.fd, "sub/d", "x", 1, 0600, 0, &step);
	check(r < 0 && step && strcmp(step, "renaming") == 0 && ve_write_step_kept(step),
	      "over a full directory: %d, step '%s'", r, step ? step : "none");
	check(faccessat(fx.fd, "sub/d.tmp", F_OK, 0) < 0, "its temporary removed");
	fx_remove(&fx);
}

static void test_read_regular(void **state)
{
	struct fx fx;
	char path[PATH_MAX + 16], *text = NULL, big[5000];
	size_t len = 0;
	int r;

	(void)state;
	fx_make(&fx);
	fx_write(&fx, "ok", "hello\n");
	check(ve_read_regular_at(fx.fd, "ok", 6, &text, &len) == 0 && len == 6 &&
		      strcmp(text, "hello\n") == 0,
	      "a file at the bound is read whole");
	free(text);
	text = NULL;
	check(ve_read_regular_at(fx.fd, "ok", 5, &text, &len) == -EFBIG && !text, "one byte over: EFBIG");
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	fx_write(&fx, "big", big);
	check(ve_read_regular_at(fx.fd, "big", sizeof(big) - 1, &text, &len) == 0 &&
		      len == sizeof(big) - 1,
	      "past the first buffer (%zu bytes)", len);
	free(text);
	text = NULL;
	snprintf(path, sizeof(path), "%s/fifo", fx.path);
	check(mkfifo(path, 0600) == 0, "mkfifo: %s", strerror(errno));
	/* a FIFO with no writer: refused at once, not waited on */
	r = ve_read_regular_at(fx.fd, "fifo", 100, &text, &len);
	check(r == -EINVAL && !text, "a FIFO: EINVAL (%d)", r);
	fx_mkdir(&fx, "dir");
	check(ve_read_regular_at(fx.fd, "dir", 100, &text, &len) == -EINVAL, "a directory: EINVAL");
	check(ve_read_regular_at(fx.fd, "none", 100, &text, &len) == -ENOENT, "missing: ENOENT");
	fx_remove(&fx);
}

/* Off the journal a line is "virtenergyd: MESSAGE" on stderr, whatever the level. */
static void test_log_stderr(void **state)
{
	char tmpl[] = "/tmp/ve-log-XXXXXX", buf[512] = "";
	int fd = mkstemp(tmpl), saved = dup(STDERR_FILENO);
	ssize_t n;

	(void)state;
	check(fd >= 0 && saved >= 0, "a temporary file");
	fflush(stderr);
	dup2(fd, STDERR_FILENO);
	ve_log_init();
	ve_log("host cap %d W", 30);
	ve_log_vm("6f1d0000-0000-4000-8000-000000000001", "web1", "limit %s", "40 W");
	ve_log_warning("cannot %s", "write");
	fflush(stderr);
	dup2(saved, STDERR_FILENO);
	close(saved);
	n = pread(fd, buf, sizeof(buf) - 1, 0);
	close(fd);
	unlink(tmpl);
	check(n > 0, "something written");
	check(!ve_log_to_journal(), "a file is not the journal");
	check(strcmp(buf, "virtenergyd: host cap 30 W\nvirtenergyd: limit 40 W\nvirtenergyd: cannot write\n") == 0,
	      "the lines: '%s'", buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_write_atomic),
		cmocka_unit_test(test_read_regular),
		cmocka_unit_test(test_log_stderr),
	};

	return cmocka_run_group_tests_name("fileio", tests, NULL, NULL);
}
