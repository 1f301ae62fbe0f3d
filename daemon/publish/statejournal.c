// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * statejournal.c: the state file's journal (see statejournal.h).
 *
 * Layout, all integers little-endian:
 *
 *   header   "VEJRNL02"  u64 base_seq  u32 n_fields  u32 crc32(the 20 bytes before)
 *   record   u32 len  u32 crc32(payload)  payload[len]
 *
 * crc32 is zlib's.
 *   payload  varint seq, periods, energy_uj, retired_uj, n_reasons, reason_uj...
 *            then ops to its end:
 *              'D' varint id, varint key_len, key, varint name_len + 1 (0: no name), name
 *              'U' varint id, varint mask (bit f: field f changed), per bit a zigzag delta
 *              'X' varint key_len, key                   (the account was dropped)
 *
 * A ledger entry's fields in order: comp_uj[], dev_uj[], total_uj,
 * passed_on_uj; n_fields in the header is their count, so a journal written
 * by a daemon with another set of components is ignored, not misread (the
 * state file it continues is what such a daemon reads).  Ids are handed out
 * per journal; a define binds an id to an account of the state file or to a
 * new one.  Deltas are signed so that nothing a ledger can do is refused
 * here: the invariants, checked after the replay, judge the result.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "fileio.h"
#include "statefile_int.h"
#include "statejournal.h"

#define MAGIC "VEJRNL02"   /* 01 had a CRC-32C of its own */
#define HEADER_LEN 24
#define N_FIELDS (VE_COMP__MAX + VE_DEV__MAX + 2)
G_STATIC_ASSERT(N_FIELDS <= 63);

static uint64_t *field(struct ve_ledger_entry *e, unsigned int f)
{
	if (f < VE_COMP__MAX)
		return &e->comp_uj[f];
	f -= VE_COMP__MAX;
	if (f < VE_DEV__MAX)
		return &e->dev_uj[f];
	return f == VE_DEV__MAX ? &e->total_uj : &e->passed_on_uj;
}

/* zlib's CRC-32 (what gzip and PNG use): a record cut short or torn fails it */
static uint32_t crc(const void *data, size_t len)
{
	return (uint32_t)crc32_z(crc32_z(0L, Z_NULL, 0), data, len);
}

static void put_le(GByteArray *b, uint64_t v, unsigned int bytes)
{
	uint8_t x[8];

	for (unsigned int i = 0; i < bytes; i++)
		x[i] = (uint8_t)(v >> (8 * i));
	g_byte_array_append(b, x, bytes);
}

static uint64_t get_le(const uint8_t *p, unsigned int bytes)
{
	uint64_t v = 0;

	for (unsigned int i = 0; i < bytes; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

static void put_varint(GByteArray *b, uint64_t v)
{
	uint8_t x[10];
	guint n = 0;

	do {
		x[n] = (uint8_t)(v & 0x7f);
		v >>= 7;
		x[n++] |= v ? 0x80 : 0;
	} while (v);
	g_byte_array_append(b, x, n);
}

static void put_bytes(GByteArray *b, const char *s, size_t len)
{
	put_varint(b, len);
	g_byte_array_append(b, (const guint8 *)s, (guint)len);
}

/* ---- writing ---------------------------------------------------------- */

struct ve_state_journal {
	int dir_fd;
	char *name, *jname;
	int fd;                       /* the journal, appended; -1: compact next */
	struct ve_state *prev;        /* what was saved last: the journal's sum; its
					 accounts' jid are their ids + 1 in the journal */
	uint32_t next_id;
	size_t bytes, snap_bytes;     /* the journal's size, the state file's */
	GByteArray *buf;
	uint64_t appended, compacted;
};

struct ve_state_journal *ve_state_journal_new(int dir_fd, const char *name)
{
	struct ve_state_journal *j = g_new0(struct ve_state_journal, 1);

	j->dir_fd = dir_fd;
	j->name = g_strdup(name);
	j->jname = g_strconcat(name, ".journal", NULL);
	j->fd = -1;
	j->buf = g_byte_array_new();
	return j;
}

void ve_state_journal_counts(const struct ve_state_journal *j, uint64_t *ret_appended,
			     uint64_t *ret_compacted)
{
	*ret_appended = j->appended;
	*ret_compacted = j->compacted;
}

static void take_prev(struct ve_state_journal *j, struct ve_state *s)
{
	ve_state_free(j->prev);
	j->prev = s;
}

static gboolean compact(struct ve_state_journal *j, struct ve_state *s, GError **error)
{
	g_autoptr(GByteArray) h = g_byte_array_new();
	size_t len = 0;
	const char *step;
	int r;

	if (j->fd >= 0)
		close(j->fd);
	j->fd = -1;
	if (!statefile_save(j->dir_fd, j->name, s, &len, error))
		return FALSE;   /* s->seq unchanged: saving it again writes the same seq */
	j->compacted++;
	j->snap_bytes = len;
	take_prev(j, s);
	/* a new journal: no account has an id in it yet */
	for (guint i = 0; i < s->accounts->len; i++)
		((struct ve_state_account *)g_ptr_array_index(s->accounts, i))->jid = 0;
	j->next_id = 0;
	/* a journal that continues it; until it is in place the old one names an older seq */
	g_byte_array_append(h, (const guint8 *)MAGIC, 8);
	put_le(h, s->seq, 8);
	put_le(h, N_FIELDS, 4);
	put_le(h, crc(h->data, h->len), 4);
	r = ve_write_file_atomic_at(j->dir_fd, j->jname, h->data, h->len, 0600,
				    VE_WRITE_SYNC | VE_WRITE_SYNC_DIR, &step);
	if (r == 0) {
		j->fd = openat(j->dir_fd, j->jname, O_WRONLY | O_APPEND | O_CLOEXEC | O_NOFOLLOW);
		r = j->fd < 0 ? -errno : 0;
		step = "opening";
	}
	if (r < 0) {
		/* the state file is saved: only the next save pays for it, by compacting again */
		g_set_error(error, VE_STATE_ERROR, VE_STATE_ERROR_IO,
			    "saved state file '%s' (seq %" PRIu64 ") but %s its journal '%s' failed: %s; the next save rewrites the state file again",
			    j->name, s->seq, step, j->jname, g_strerror(-r));
		return FALSE;
	}
	j->bytes = h->len;
	return TRUE;
}

/*
 * Record how @a changed since @old (NULL: new), and carry its journal id
 * over into @a (an account without one is given the next and defined).
 */
static void record_account(struct ve_state_journal *j, struct ve_state_account *a,
			   const struct ve_state_account *old)
{
	static const struct ve_ledger_entry zero;
	struct ve_ledger_entry ne = a->e, oe = old ? old->e : zero;
	uint64_t mask = 0;
	bool renamed = old && g_strcmp0(old->name, a->name) != 0;

	for (unsigned int f = 0; f < N_FIELDS; f++)
		if (*field(&ne, f) != *field(&oe, f))
			mask |= UINT64_C(1) << f;
	a->jid = old ? old->jid : 0;
	if (a->jid && !mask && !renamed)
		return;   /* as it was */
	if (!a->jid || renamed) {
		if (!a->jid)
			a->jid = ++j->next_id;
		g_byte_array_append(j->buf, (const guint8 *)"D", 1);
		put_varint(j->buf, a->jid - 1);
		put_bytes(j->buf, a->key, strlen(a->key));
		put_varint(j->buf, a->name ? strlen(a->name) + 1 : 0);
		if (a->name)
			g_byte_array_append(j->buf, (const guint8 *)a->name, (guint)strlen(a->name));
	}
	if (!mask)
		return;
	g_byte_array_append(j->buf, (const guint8 *)"U", 1);
	put_varint(j->buf, a->jid - 1);
	put_varint(j->buf, mask);
	for (unsigned int f = 0; f < N_FIELDS; f++) {
		int64_t d;

		if (!(mask & (UINT64_C(1) << f)))
			continue;
		d = (int64_t)(*field(&ne, f) - *field(&oe, f));   /* two's complement: exact mod 2^64 */
		put_varint(j->buf, ((uint64_t)d << 1) ^ (uint64_t)(d >> 63));
	}
}

static gboolean append(struct ve_state_journal *j, struct ve_state *s, GError **error)
{
	g_autoptr(GError) why = NULL;
	bool in_place = s->accounts->len == j->prev->accounts->len;
	uint32_t sum;
	ssize_t n;

	if (!statefile_check(s, VE_STATE_ERROR_INVALID, &why)) {
		g_set_error(error, VE_STATE_ERROR, VE_STATE_ERROR_INVALID,
			    "not saving an inconsistent state to '%s' (%s); the previous state was kept",
			    j->jname, why->message);
		return FALSE;
	}
	g_byte_array_set_size(j->buf, 8);   /* room for len and crc */
	put_varint(j->buf, s->seq + 1);
	put_varint(j->buf, s->periods);
	put_varint(j->buf, s->energy_uj);
	put_varint(j->buf, s->retired_uj);
	put_varint(j->buf, VE_REASON__MAX);
	for (int i = 0; i < VE_REASON__MAX; i++)
		put_varint(j->buf, s->host_reason_uj[i]);
	/*
	 * A daemon lists its accounts in the same order every save, so each
	 * is first looked for where it was last time: at 1,000 VMs the two
	 * hash lookups per account and save were most of the journal's cost
	 * (issue 15).  When every account is where it was, none was dropped.
	 */
	for (guint i = 0; i < s->accounts->len; i++) {
		struct ve_state_account *a = g_ptr_array_index(s->accounts, i);
		const struct ve_state_account *old = NULL;

		if (i < j->prev->accounts->len) {
			old = g_ptr_array_index(j->prev->accounts, i);
			if (strcmp(old->key, a->key) != 0)
				old = NULL;
		}
		if (!old) {
			in_place = false;
			old = ve_state_lookup(j->prev, a->key);
		}
		record_account(j, a, old);
	}
	for (guint i = 0; !in_place && i < j->prev->accounts->len; i++) {
		const struct ve_state_account *a = g_ptr_array_index(j->prev->accounts, i);

		if (ve_state_lookup(s, a->key))
			continue;
		g_byte_array_append(j->buf, (const guint8 *)"X", 1);
		put_bytes(j->buf, a->key, strlen(a->key));
	}
	sum = crc(j->buf->data + 8, j->buf->len - 8);
	for (unsigned int i = 0; i < 4; i++) {
		j->buf->data[i] = (uint8_t)((j->buf->len - 8) >> (8 * i));
		j->buf->data[4 + i] = (uint8_t)(sum >> (8 * i));
	}
	n = write(j->fd, j->buf->data, j->buf->len);
	if (n != (ssize_t)j->buf->len || fdatasync(j->fd) < 0) {
		int err = n < 0 || n == (ssize_t)j->buf->len ? errno : EIO;

		/* a part written is a torn record: loading stops before it, and so will we */
		close(j->fd);
		j->fd = -1;
		g_set_error(error, VE_STATE_ERROR, VE_STATE_ERROR_IO,
			    "cannot append to the state journal '%s': %s; the next save rewrites the state file",
			    j->jname, g_strerror(err));
		return FALSE;
	}
	s->seq++;
	j->bytes += j->buf->len;
	j->appended++;
	take_prev(j, s);
	return TRUE;
}

gboolean ve_state_journal_save(struct ve_state_journal *j, struct ve_state *s, bool whole,
			       GError **error)
{
	gboolean ok;

	if (whole || j->fd < 0 || !j->prev || j->bytes >= j->snap_bytes)
		ok = compact(j, s, error);
	else
		ok = append(j, s, error);
	/* taken over: kept as prev on success, freed here otherwise */
	if (!ok && j->prev != s)
		ve_state_free(s);
	return ok;
}

void ve_state_journal_free(struct ve_state_journal *j, GError **error)
{
	if (!j)
		return;
	if (j->prev && j->fd >= 0 && j->bytes > HEADER_LEN) {
		struct ve_state *last = j->prev;

		j->prev = NULL;
		last->seq--;   /* the same seq again: the state file now holds what the journal did */
		if (!compact(j, last, error) && j->prev != last)
			ve_state_free(last);
	}
	ve_state_journal_discard(j);
}

void ve_state_journal_discard(struct ve_state_journal *j)
{
	if (!j)
		return;
	if (j->fd >= 0)
		close(j->fd);
	ve_state_free(j->prev);
	g_byte_array_free(j->buf, TRUE);
	g_free(j->name);
	g_free(j->jname);
	g_free(j);
}

/* ---- replaying -------------------------------------------------------- */

struct cursor {
	const uint8_t *p, *end;
};

static bool get_varint(struct cursor *c, uint64_t *ret)
{
	uint64_t v = 0;

	for (unsigned int shift = 0; c->p < c->end && shift < 64; shift += 7) {
		uint8_t b = *c->p++;

		v |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80)) {
			*ret = v;
			return true;
		}
	}
	return false;
}

/* A string of at most @max bytes, copied. */
static bool get_string(struct cursor *c, uint64_t len, size_t max, char **ret)
{
	if (len > max || len > (uint64_t)(c->end - c->p))
		return false;
	*ret = g_strndup((const char *)c->p, (gsize)len);
	c->p += len;
	return strlen(*ret) == len;   /* no NUL inside */
}

static gboolean bad(GError **error, uint64_t seq, const char *what)
{
	g_set_error(error, VE_STATE_ERROR, VE_STATE_ERROR_CORRUPT,
		    "its journal's record of seq %" PRIu64 " %s", seq, what);
	return FALSE;
}

static gboolean apply_record(struct ve_state *s, GPtrArray *ids, struct cursor *c, GError **error)
{
	uint64_t seq = 0, n_reasons = 0, v;

	if (!get_varint(c, &seq) || seq <= s->seq)
		return bad(error, seq, "does not follow the one before");
	if (!get_varint(c, &s->periods) || !get_varint(c, &s->energy_uj) ||
	    !get_varint(c, &s->retired_uj) || !get_varint(c, &n_reasons) || n_reasons != VE_REASON__MAX)
		return bad(error, seq, "has a malformed header");
	for (int i = 0; i < VE_REASON__MAX; i++)
		if (!get_varint(c, &s->host_reason_uj[i]))
			return bad(error, seq, "has a malformed header");
	s->seq = seq;
	while (c->p < c->end) {
		uint8_t op = *c->p++;
		g_autofree char *key = NULL;
		g_autofree char *name = NULL;
		struct ve_state_account *a;
		uint64_t id, len, mask;

		switch (op) {
		case 'D':
			if (!get_varint(c, &id) || id > ids->len || !get_varint(c, &len) ||
			    !get_string(c, len, 512, &key) || !get_varint(c, &len) ||
			    (len && !get_string(c, len - 1, 4096, &name)))
				return bad(error, seq, "defines an account badly");
			a = ve_state_lookup(s, key);
			if (!a && !(a = statefile_add(s, key, name, NULL, VE_STATE_ERROR_CORRUPT, error)))
				return FALSE;
			if (name && !g_utf8_validate(name, -1, NULL))
				return bad(error, seq, "names an account in something else than UTF-8");
			g_free(a->name);
			a->name = g_steal_pointer(&name);
			if (id == ids->len)
				g_ptr_array_add(ids, a);
			else
				g_ptr_array_index(ids, id) = a;
			break;
		case 'U':
			if (!get_varint(c, &id) || id >= ids->len || !g_ptr_array_index(ids, id) ||
			    !get_varint(c, &mask) || mask >> N_FIELDS)
				return bad(error, seq, "updates an account it did not define");
			a = g_ptr_array_index(ids, id);
			for (unsigned int f = 0; f < N_FIELDS; f++) {
				if (!(mask & (UINT64_C(1) << f)))
					continue;
				if (!get_varint(c, &v))
					return bad(error, seq, "is cut short");
				/* zigzag back to a signed delta, added mod 2^64 */
				*field(&a->e, f) += (v >> 1) ^ (uint64_t)-(int64_t)(v & 1);
			}
			break;
		case 'X':
			if (!get_varint(c, &len) || !get_string(c, len, 512, &key) ||
			    !(a = ve_state_lookup(s, key)))
				return bad(error, seq, "drops an account it does not have");
			for (guint i = 0; i < ids->len; i++)
				if (g_ptr_array_index(ids, i) == a)
					g_ptr_array_index(ids, i) = NULL;
			g_hash_table_remove(s->by_key, key);
			g_ptr_array_remove(s->accounts, a);   /* frees it */
			break;
		default:
			return bad(error, seq, "holds an unknown operation");
		}
	}
	return TRUE;
}

gboolean ve_state_journal_replay(struct ve_state *s, const char *data, size_t len, GError **error)
{
	const uint8_t *p = (const uint8_t *)data, *end = p + len;
	g_autoptr(GPtrArray) ids = g_ptr_array_new();

	if (len < HEADER_LEN || memcmp(p, MAGIC, 8) != 0 ||
	    get_le(p + 20, 4) != crc(p, 20) || get_le(p + 16, 4) != N_FIELDS ||
	    get_le(p + 8, 8) != s->seq)
		return TRUE;   /* another layout, or it continues another state file: not ours */
	p += HEADER_LEN;
	while (end - p >= 8) {
		uint64_t rlen = get_le(p, 4);
		struct cursor c;

		if (rlen > (uint64_t)(end - p - 8) || get_le(p + 4, 4) != crc(p + 8, rlen))
			break;   /* cut short, or torn: the saves end here */
		c = (struct cursor){ p + 8, p + 8 + rlen };
		if (!apply_record(s, ids, &c, error))
			return FALSE;
		p = c.end;
	}
	return statefile_check(s, VE_STATE_ERROR_CORRUPT, error);
}
