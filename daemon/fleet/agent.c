// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * agent.c: the host agent (see agent.h).
 *
 * One timer a few times a control period; each tick sends what is due
 * (lease grant or keepalive every sixth of the TTL, report, cap read), at
 * most one request of each kind in flight.  The lease's TTL runs from the
 * last keepalive etcd answered: two thirds of a TTL without one and the
 * host falls back, which leaves the controller a third in which it still
 * counts this host at its cap, and a member's death or etcd's own leader
 * election (well under a second) costs no fallback (fleet.h): keepalives
 * and cap reads go to every member at once (etcd.h), so none waits for a
 * member that died or hangs, and a keepalive not answered in a sixth of
 * the TTL is sent again, so one that a follower holds for a leader that
 * hangs costs at most that.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "agent.h"
#include "controller.h"
#include "error.h"
#include "fileio.h"
#include "fleet.h"
#include "watch.h"

struct ve_fleet_agent {
	struct ve_fleet_opts o;      /* strings owned */
	struct ve_etcd *etcd;
	GCancellable *cancel;
	ve_fleet_log_fn log;
	void *ud;
	struct ve_fleet_controller *ctl;
	char *key_host, *key_cap;
	guint timer;
	uint64_t poll_us;

	struct ve_fleet_figures fig;
	uint64_t in_force_uw;
	enum ve_fleet_source in_force_src;
	gint64 in_force_rev;

	gint64 lease;
	bool granting, ka_busy, put_busy, range_busy;
	uint64_t last_contact_us, last_ka_us, last_put_us;
	uint64_t last_ka_ok_us;      /* the last keepalive (or grant) etcd answered */
	char *last_report;           /* the last report put */

	bool have_cap;               /* the cap key was there at the last read, and etcd answers */
	uint64_t cap_uw;
	gint64 cap_rev;
	uint64_t fb_uw;              /* the fallback held */
	uint64_t fb_since_us, fb_held_uw;
	/*
	 * Back from a fallback: a cap above the fallback's is taken only from a
	 * round that read this host's fallback report (the cap's read_rev at
	 * least the revision of that report, fb_report_rev; 0: not put yet),
	 * since before that the controller's books may count this host at a
	 * cap it did not hold and others at caps they left for their
	 * fallbacks (quorum lost: no lease expired, nobody was seen gone).
	 * Meanwhile a lower cap bounds the fallback (fb_bound_uw; 0: none).
	 */
	gint64 fb_report_rev;
	uint64_t fb_bound_uw;
	bool put_in_fallback;           /* the report in flight was sent in fallback */
	struct ve_etcd_watch *watch;    /* of the cap key, from the first read on */
	bool watching;                  /* a stream of it is up */
	gint64 state_rev;               /* the cap key as of this revision is taken */
	char *said;                  /* the last state logged, to log each change once */
	/*
	 * "etcd out of reach" was logged, and etcd has not answered since:
	 * the failed registrations in between are not logged (each would
	 * alternate with that line every second).
	 */
	bool out_of_reach;
};

static uint64_t now_us(void)
{
	return (uint64_t)g_get_monotonic_time();
}

static void say(struct ve_fleet_agent *a, const char *fmt, ...) G_GNUC_PRINTF(2, 3);
static void say(struct ve_fleet_agent *a, const char *fmt, ...)
{
	va_list ap;
	g_autofree char *m = NULL;

	va_start(ap, fmt);
	m = g_strdup_vprintf(fmt, ap);
	va_end(ap);
	if (g_strcmp0(m, a->said) == 0)
		return;
	g_free(a->said);
	a->said = g_strdup(m);
	a->log(a->ud, m);
}

/* The fallback kept across restarts: <state-dir>/fleet-fallback, µW as text. */
static void save_fallback(struct ve_fleet_agent *a)
{
	g_autofree char *path = NULL, *text = NULL;

	if (!a->o.state_dir)
		return;
	path = g_build_filename(a->o.state_dir, "fleet-fallback", NULL);
	text = g_strdup_printf("%" G_GUINT64_FORMAT "\n", a->fb_uw);
	g_file_set_contents(path, text, -1, NULL);
}

static uint64_t load_fallback(const struct ve_fleet_opts *o)
{
	g_autofree char *path = NULL, *text = NULL;
	guint64 v = 0;

	if (!o->state_dir)
		return 0;
	path = g_build_filename(o->state_dir, "fleet-fallback", NULL);
	if (!g_file_get_contents(path, &text, NULL, NULL))
		return 0;
	g_strstrip(text);
	if (!g_ascii_string_to_unsigned(text, 10, 0, VE_FLEET_MAX_BUDGET_UW, &v, NULL))
		return 0;
	return v;
}

static void set_fallback(struct ve_fleet_agent *a, uint64_t uw)
{
	if (a->o.fallback_cap_uw && (!uw || uw > a->o.fallback_cap_uw))
		uw = a->o.fallback_cap_uw;
	if (uw == a->fb_uw)
		return;
	a->fb_uw = uw;
	save_fallback(a);
}

/* The cap key is gone or out of reach since @since_us: fall back, from the cap held. */
static void lose_cap(struct ve_fleet_agent *a, uint64_t since_us, const char *why)
{
	if (!a->have_cap)
		return;
	a->have_cap = false;
	a->fb_since_us = since_us;
	a->fb_held_uw = a->cap_uw;
	a->fb_report_rev = 0;
	a->fb_bound_uw = 0;
	say(a, "fleet: %s; falling back to %.3f W (at once no higher than the %.3f W held)", why,
	    (double)MAX(a->fb_uw, 1) / 1e6, (double)a->cap_uw / 1e6);
}

static bool ours(const GError *err)
{
	return !g_error_matches(err, G_IO_ERROR, G_IO_ERROR_CANCELLED);
}

static void contact(struct ve_fleet_agent *a)
{
	a->last_contact_us = now_us();
	a->out_of_reach = false;
}

static void drop_lease(struct ve_fleet_agent *a, const char *why)
{
	if (!a->lease)
		return;
	a->lease = 0;
	g_clear_pointer(&a->last_report, g_free);
	if (a->ctl)
		ve_fleet_controller_set_lease(a->ctl, 0);
	say(a, "fleet: lease lost (%s); registering again", why);
}

/*
 * At each registration, with a fallback saved (by an earlier run, or held
 * while the lease was lost): no roster key for this host means an operator forgot it (virtenergyctl
 * fleet forget), and the controller reserves nothing for it any more, so the
 * saved fallback goes (to [fleet] fallback-cap, else the lowest cap).
 */
static void on_roster(JsonObject *r, const GError *err, gpointer ud)
{
	struct ve_fleet_agent *a = ud;
	JsonArray *kvs;

	if (!ours(err))
		return;
	if (!r)
		return;
	kvs = json_object_has_member(r, "kvs") ? json_object_get_array_member(r, "kvs") : NULL;
	if ((kvs && json_array_get_length(kvs)) || !a->fb_uw || a->have_cap ||
	    (a->o.fallback_cap_uw && a->fb_uw == a->o.fallback_cap_uw))
		return;
	say(a, "fleet: this host was forgotten (no roster key): the saved fallback of %.3f W goes",
	    (double)a->fb_uw / 1e6);
	a->fb_uw = 0;
	set_fallback(a, 0);
	save_fallback(a);
}

static void on_granted(JsonObject *r, const GError *err, gpointer ud)
{
	struct ve_fleet_agent *a = ud;
	gint64 id;

	if (!ours(err))
		return;
	a->granting = false;
	if (!r) {
		if (!a->out_of_reach)
			say(a, "fleet: cannot reach etcd to register: %s", err->message);
		return;
	}
	contact(a);
	id = ve_etcd_int(r, "ID", 0);
	if (!id)
		return;
	a->lease = id;
	a->last_ka_us = a->last_ka_ok_us = now_us();
	{
		g_autofree char *key = g_strdup_printf("%s/roster/%s", a->o.prefix, a->o.host);

		ve_etcd_call(a->etcd, "/v3/kv/range", ve_etcd_range_body(key, FALSE), 0, a->cancel, on_roster, a);
	}
	say(a, "fleet: registered as '%s' under %s (lease %" G_GINT64_FORMAT ", TTL %" G_GUINT64_FORMAT " s)",
	    a->o.host, a->o.node, id, a->o.ttl_s);
	if (a->ctl)
		ve_fleet_controller_set_lease(a->ctl, id);
}

static void on_keepalive(JsonObject *r, const GError *err, gpointer ud)
{
	struct ve_fleet_agent *a = ud;
	JsonObject *res;

	if (!ours(err))
		return;
	a->ka_busy = false;
	if (!r)
		return;
	contact(a);
	/* the gateway streams: one {"result": {...}} for our one request */
	res = json_object_has_member(r, "result") ? json_object_get_object_member(r, "result") : r;
	if (!a->lease || ve_etcd_int(res, "ID", 0) != a->lease)
		return;   /* for a lease given up since */
	if (ve_etcd_int(res, "TTL", 0) <= 0)
		drop_lease(a, "etcd says it expired");
	else
		a->last_ka_ok_us = now_us();
}

static void on_put(JsonObject *r, const GError *err, gpointer ud)
{
	struct ve_fleet_agent *a = ud;

	if (!ours(err))
		return;
	a->put_busy = false;
	if (!r) {
		g_clear_pointer(&a->last_report, g_free);
		if (err->code == VE_ERROR_FAILED && strstr(err->message, "lease not found"))
			drop_lease(a, "etcd no longer has it");
		return;
	}
	contact(a);
	if (a->put_in_fallback && !a->have_cap && !a->fb_report_rev)
		a->fb_report_rev = ve_etcd_int(json_object_get_object_member(r, "header"), "revision", 0);
}

/* The cap key's value (@kv; NULL: no key) as of revision @rev, from a read or the watch. */
static void take_cap(struct ve_fleet_agent *a, JsonObject *kv)
{
	g_autoptr(GError) perr = NULL;
	struct ve_fleet_cap cap = { 0 };
	g_autofree char *val = NULL;

	if (!kv) {
		lose_cap(a, now_us(), "no cap from the controller (its lease expired, or none leads)");
		return;
	}
	val = ve_etcd_unb64(json_object_get_string_member_with_default(kv, "value", NULL));
	if (!ve_fleet_cap_parse(val, &cap, &perr)) {
		lose_cap(a, now_us(), perr->message);
		return;
	}
	set_fallback(a, cap.fallback_uw);
	if (!a->have_cap && (!a->fb_report_rev || cap.read_rev < a->fb_report_rev)) {
		/* from before the controller knew of our fallback: only a bound */
		a->fb_bound_uw = cap.cap_uw;
		g_free(cap.leader);
		return;
	}
	if (!a->have_cap || a->cap_uw != cap.cap_uw)
		say(a, "fleet: cap %.3f W from the controller on '%s' (fallback %.3f W)",
		    (double)cap.cap_uw / 1e6, cap.leader, (double)a->fb_uw / 1e6);
	a->have_cap = true;
	a->cap_uw = cap.cap_uw;
	a->cap_rev = ve_etcd_int(kv, "mod_revision", 0);
	g_free(cap.leader);
}

static void on_watch(JsonObject *ev, gpointer ud)
{
	struct ve_fleet_agent *a = ud;
	JsonNode *kvn = json_object_get_member(ev, "kv");
	JsonObject *kv = kvn && JSON_NODE_HOLDS_OBJECT(kvn) ? json_node_get_object(kvn) : NULL;
	gint64 rev = kv ? ve_etcd_int(kv, "mod_revision", 0) : 0;

	/* a read answered since says as much or more */
	if (!kv || rev <= a->state_rev)
		return;
	a->state_rev = rev;
	take_cap(a, g_strcmp0(json_object_get_string_member_with_default(ev, "type", "PUT"), "DELETE") == 0
			    ? NULL : kv);
}

static void on_range(JsonObject *r, const GError *err, gpointer ud)
{
	struct ve_fleet_agent *a = ud;
	JsonArray *kvs;
	gint64 rev;

	if (!ours(err))
		return;
	a->range_busy = false;
	if (!r)
		return;
	contact(a);
	rev = ve_etcd_int(json_object_get_object_member(r, "header"), "revision", 0);
	/* older than an event of the watch already taken: stale */
	if (rev < a->state_rev)
		return;
	a->state_rev = rev;
	/* from the revision after this read on, the watch tells what changes */
	if (!a->watch && rev > 0)
		a->watch = ve_etcd_watch_new(a->etcd, a->key_cap, rev + 1, on_watch, a);
	kvs = json_object_has_member(r, "kvs") ? json_object_get_array_member(r, "kvs") : NULL;
	take_cap(a, kvs && json_array_get_length(kvs) ? json_array_get_object_element(kvs, 0) : NULL);
}

static void put_report(struct ve_fleet_agent *a, uint64_t now)
{
	struct ve_fleet_report rep = {
		.node = (char *)a->o.node,
		.demand_uw = a->fig.demand_uw, .guarantee_uw = a->fig.guarantee_uw,
		.floor_uw = a->fig.floor_uw, .power_uw = a->fig.power_uw,
		.weight = a->o.weight, .cap_uw = a->in_force_uw, .source = a->in_force_src,
		.fallback_uw = a->fb_uw,
		.cap_rev = a->in_force_rev,
	};
	g_autofree char *json = ve_fleet_report_to_json(&rep);

	/* the same report again only to show it is alive: a third of a TTL */
	if (a->last_report && strcmp(json, a->last_report) == 0 &&
	    now - a->last_put_us < a->o.ttl_s * 1000000 / 3)
		return;
	a->put_busy = true;
	a->put_in_fallback = !a->have_cap;
	a->last_put_us = now;
	g_free(a->last_report);
	a->last_report = g_strdup(json);
	ve_etcd_call(a->etcd, "/v3/kv/put", ve_etcd_put_body(a->key_host, json, a->lease), 0, a->cancel,
		     on_put, a);
}

static gboolean on_tick(gpointer data)
{
	struct ve_fleet_agent *a = data;
	uint64_t now = now_us(), ttl_us = a->o.ttl_s * 1000000;
	bool watching;

	/*
	 * The lease runs out a TTL after the last keepalive etcd answered at
	 * the latest: without one for two thirds of it, fall back, a third
	 * before the controller may count this host at its fallback.  Without
	 * a lease (not registered yet, or lost), any answer is contact.
	 */
	if ((a->lease && a->last_ka_ok_us && now - a->last_ka_ok_us > ttl_us * 2 / 3) ||
	    (!a->lease && a->last_contact_us && now - a->last_contact_us > ttl_us / 2)) {
		lose_cap(a, a->lease ? a->last_ka_ok_us : a->last_contact_us,
			 "etcd has not renewed this host's lease for two thirds of its TTL");
		say(a, "fleet: etcd out of reach; holding the fallback");
		a->out_of_reach = true;
		/*
		 * And no more keepalives on that lease: keepalives that reach etcd
		 * but whose answers come too late (a host starved of CPU, a lossy
		 * path) would keep it alive, and the controller would count this
		 * host at its cap while it rises to its fallback.  Given up now,
		 * the lease ends a TTL after the last keepalive etcd took, before
		 * the rise (fleet.h); the host registers again on a new one.
		 */
		if (a->lease)
			drop_lease(a, "no keepalive answered for two thirds of its TTL");
	}
	if (!a->lease) {
		if (!a->granting) {
			g_autoptr(JsonBuilder) b = json_builder_new();
			g_autofree char *ttl = g_strdup_printf("%" G_GUINT64_FORMAT, a->o.ttl_s);

			json_builder_begin_object(b);
			json_builder_set_member_name(b, "TTL");
			json_builder_add_string_value(b, ttl);
			json_builder_end_object(b);
			a->granting = true;
			ve_etcd_call(a->etcd, "/v3/lease/grant", json_builder_get_root(b), 0, a->cancel,
				     on_granted, a);
		}
	} else {
		if (!a->ka_busy && now - a->last_ka_us >= ttl_us / 6) {
			/*
			 * To every member at once, each given a sixth of the TTL, then
			 * sent again: a follower forwards a keepalive to the leader it
			 * knows, and to a leader that hangs (stopped, cut off) it waits
			 * for etcd's peer read timeout (5 s) even after another was
			 * elected; a new request finds the new leader.
			 */
			a->ka_busy = true;
			a->last_ka_us = now;
			ve_etcd_call_any(a->etcd, "/v3/lease/keepalive", ve_etcd_lease_body(a->lease, 0),
					 (unsigned int)MAX(ttl_us / 6000, 100), a->cancel, on_keepalive, a);
		}
		if (!a->put_busy)
			put_report(a, now);
	}
	/*
	 * The watch says when the cap changes; the key is read while no stream
	 * of it is up, and while in fallback, where a cap is taken only from a
	 * round that read the fallback report (on_put may learn its revision
	 * after the cap's event came).
	 */
	watching = ve_etcd_watch_up(a->watch);
	if (watching != a->watching) {
		a->watching = watching;
		say(a, watching ? "fleet: watching the cap key" : "fleet: no watch of the cap key is up; reading it "
								   "a few times a control period");
	}
	if (!a->range_busy && !(watching && a->have_cap)) {
		a->range_busy = true;
		ve_etcd_call_any(a->etcd, "/v3/kv/range", ve_etcd_range_body(a->key_cap, FALSE), 0, a->cancel,
				 on_range, a);
	}
	return G_SOURCE_CONTINUE;
}

struct ve_fleet_agent *ve_fleet_agent_new(const struct ve_fleet_opts *o, ve_fleet_log_fn log, void *ud)
{
	struct ve_fleet_agent *a = g_new0(struct ve_fleet_agent, 1);
	uint64_t ttl_us = o->ttl_s * 1000000, t;

	a->o = *o;
	a->o.endpoints = g_strdupv(o->endpoints);
	a->o.prefix = g_strdup(o->prefix);
	a->o.host = g_strdup(o->host);
	a->o.node = g_strdup(o->node);
	a->o.state_dir = g_strdup(o->state_dir);
	a->log = log;
	a->ud = ud;
	a->cancel = g_cancellable_new();
	/* each try gets a sixth of the TTL: a dead member costs little of the half before falling back */
	a->etcd = ve_etcd_new((const char *const *)a->o.endpoints, (unsigned int)MAX(ttl_us / 6000, 100));
	a->key_host = g_strdup_printf("%s/hosts/%s", o->prefix, o->host);
	a->key_cap = g_strdup_printf("%s/caps/%s", o->prefix, o->host);
	a->fb_uw = load_fallback(o);
	set_fallback(a, a->fb_uw);
	a->fb_since_us = 0;          /* no cap yet: the fallback at once (the controller counts it so) */
	a->in_force_src = VE_FLEET_SOURCE_FALLBACK;
	t = MIN(ttl_us / 4, o->period_us / 2);
	a->poll_us = CLAMP(t, 100000, 1000000);
	if (o->controller)
		a->ctl = ve_fleet_controller_new(a->etcd, &a->o, log, ud);
	a->timer = g_timeout_add((guint)(a->poll_us / 1000), on_tick, a);
	on_tick(a);
	return a;
}

void ve_fleet_agent_free(struct ve_fleet_agent *a)
{
	if (!a)
		return;
	if (a->timer)
		g_source_remove(a->timer);
	ve_etcd_watch_free(a->watch);
	g_cancellable_cancel(a->cancel);
	ve_fleet_controller_free(a->ctl);
	/* let the cancelled calls finish before the client goes */
	while (g_main_context_iteration(NULL, FALSE))
		;
	ve_etcd_free(a->etcd);
	g_object_unref(a->cancel);
	g_strfreev(a->o.endpoints);
	g_free((char *)a->o.prefix);
	g_free((char *)a->o.host);
	g_free((char *)a->o.node);
	g_free((char *)a->o.state_dir);
	g_free(a->key_host);
	g_free(a->key_cap);
	g_free(a->last_report);
	g_free(a->said);
	g_free(a);
}

void ve_fleet_agent_set_figures(struct ve_fleet_agent *a, const struct ve_fleet_figures *f)
{
	a->fig = *f;
}

uint64_t ve_fleet_agent_cap(struct ve_fleet_agent *a, uint64_t now, enum ve_fleet_source *ret_source,
			    gint64 *ret_rev)
{
	*ret_rev = a->have_cap ? a->cap_rev : 0;
	if (a->have_cap) {
		*ret_source = VE_FLEET_SOURCE_FLEET;
		return a->cap_uw;
	}
	*ret_source = VE_FLEET_SOURCE_FALLBACK;
	return ve_fleet_effective_uw(a->fb_bound_uw,
				     ve_fleet_fallback_uw(a->fb_held_uw, a->fb_uw, a->fb_since_us, now,
							  2 * a->o.ttl_s * 1000000 + a->o.period_us));
}

void ve_fleet_agent_in_force(struct ve_fleet_agent *a, uint64_t cap_uw, enum ve_fleet_source src,
			     gint64 rev)
{
	a->in_force_uw = cap_uw;
	a->in_force_src = src;
	a->in_force_rev = rev;
}

struct ve_etcd *ve_fleet_agent_etcd(struct ve_fleet_agent *a)
{
	return a->etcd;
}

const struct ve_fleet_opts *ve_fleet_agent_opts(struct ve_fleet_agent *a)
{
	return &a->o;
}

bool ve_fleet_agent_leads(struct ve_fleet_agent *a)
{
	return a->ctl && ve_fleet_controller_leads(a->ctl);
}
