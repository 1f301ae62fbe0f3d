// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * authz.c: authorization of the write methods (see authz.h).
 *
 * polkit is asked over D-Bus, CheckAuthorization on
 * org.freedesktop.PolicyKit1.Authority, as libvirt's virpolkit.c does,
 * rather than through libpolkit-gobject-1: the call goes out on the
 * connection the method came in on, so the daemon asks the polkitd of the
 * bus its caller is on (a test's private system bus included) and needs no
 * second connection; it is one more asynchronous call with its reply
 * handled like the others, cancelled with them when the daemon stops; and
 * the daemon gains no library (and no synchronous PolkitAuthority set-up)
 * for one method call.  The subject is the caller's unique bus name
 * ("system-bus-name"), which polkitd resolves to a uid and a process
 * itself, so a caller cannot claim to be someone else.
 *
 * Root is answered before polkit is asked: a root caller is allowed where
 * no polkitd runs (a minimal host, an initramfs, a test bus) and where no
 * agent could answer an "auth_admin" default.
 */
#include "authz.h"
#include "error.h"

#define POLKIT_NAME "org.freedesktop.PolicyKit1"
#define POLKIT_PATH "/org/freedesktop/PolicyKit1/Authority"
#define POLKIT_IFACE "org.freedesktop.PolicyKit1.Authority"
/* CheckAuthorization's flags: let polkitd ask an agent for a password */
#define POLKIT_ALLOW_USER_INTERACTION 1u
/* the bus answers at once; polkitd without an agent in well under this */
#define QUICK_TIMEOUT_MS 25000

struct authz {
	GDBusConnection *conn;
	char *sender;
	char *action;
	GVariant *details;           /* a{ss} */
	gboolean interactive;        /* the caller allows interactive authorization */
	guint32 uid;
};

static void authz_free(gpointer p)
{
	struct authz *a = p;

	g_object_unref(a->conn);
	g_free(a->sender);
	g_free(a->action);
	g_variant_unref(a->details);
	g_free(a);
}

static void on_polkit(GObject *src, GAsyncResult *res, gpointer data)
{
	g_autoptr(GTask) task = data;
	struct authz *a = g_task_get_task_data(task);
	g_autoptr(GError) err = NULL;
	g_autoptr(GVariant) r = g_dbus_connection_call_finish(G_DBUS_CONNECTION(src), res, &err);
	g_autofree char *remote = NULL;
	gboolean authorized = FALSE, challenge = FALSE;

	if (!r) {
		if (g_error_matches(err, G_IO_ERROR, G_IO_ERROR_CANCELLED)) {
			g_task_return_error(task, g_steal_pointer(&err));
			return;
		}
		remote = g_dbus_error_get_remote_error(err);
		g_dbus_error_strip_remote_error(err);
		if (g_strcmp0(remote, "org.freedesktop.DBus.Error.ServiceUnknown") == 0 ||
		    g_strcmp0(remote, "org.freedesktop.DBus.Error.NameHasNoOwner") == 0)
			g_task_return_new_error(task, VE_ERROR, VE_ERROR_DENIED,
						"uid %u is not root, and no polkit daemon is on the bus to "
						"authorize %s", a->uid, a->action);
		else
			g_task_return_new_error(task, VE_ERROR, VE_ERROR_DENIED,
						"uid %u is not root, and polkit could not be asked about "
						"%s: %s", a->uid, a->action, err->message);
		return;
	}
	g_variant_get(r, "((bb@a{ss}))", &authorized, &challenge, NULL);
	if (authorized)
		g_task_return_boolean(task, TRUE);
	else if (challenge)
		g_task_return_new_error(task, VE_ERROR, VE_ERROR_DENIED,
					"polkit wants uid %u to authenticate for %s, and %s", a->uid,
					a->action,
					a->interactive ? "no authentication agent answered"
						       : "the call did not allow interactive authorization");
	else
		g_task_return_new_error(task, VE_ERROR, VE_ERROR_DENIED,
					"polkit does not authorize uid %u for %s", a->uid,
					a->action);
}

/* The bus's answer to who the caller is: root is allowed, anyone else is polkit's to decide. */
static void on_uid(GObject *src, GAsyncResult *res, gpointer data)
{
	g_autoptr(GTask) task = data;
	struct authz *a = g_task_get_task_data(task);
	g_autoptr(GError) err = NULL;
	g_autoptr(GVariant) r = g_dbus_connection_call_finish(G_DBUS_CONNECTION(src), res, &err);
	GVariantBuilder subject;

	if (!r) {
		if (g_error_matches(err, G_IO_ERROR, G_IO_ERROR_CANCELLED))
			g_task_return_error(task, g_steal_pointer(&err));
		else
			g_task_return_new_error(task, VE_ERROR, VE_ERROR_DENIED,
						"the bus cannot say who %s is: %s", a->sender,
						err->message);
		return;
	}
	g_variant_get(r, "(u)", &a->uid);
	if (a->uid == 0) {
		g_task_return_boolean(task, TRUE);
		return;
	}
	g_variant_builder_init(&subject, G_VARIANT_TYPE("a{sv}"));
	g_variant_builder_add(&subject, "{sv}", "name", g_variant_new_string(a->sender));
	g_dbus_connection_call(a->conn, POLKIT_NAME, POLKIT_PATH, POLKIT_IFACE, "CheckAuthorization",
			       g_variant_new("((sa{sv})s@a{ss}us)", "system-bus-name", &subject,
					     a->action, a->details,
					     a->interactive ? POLKIT_ALLOW_USER_INTERACTION : 0u, ""),
			       G_VARIANT_TYPE("((bba{ss}))"),
			       /* no auto-start: a polkitd that is not running is "not there" */
			       G_DBUS_CALL_FLAGS_NO_AUTO_START,
			       /* a person typing a password takes as long as it takes */
			       a->interactive ? G_MAXINT : QUICK_TIMEOUT_MS,
			       g_task_get_cancellable(task), on_polkit, g_object_ref(task));
}

void ve_authz_check(GDBusMethodInvocation *inv, const char *action, GVariant *details,
		    GCancellable *cancel, GAsyncReadyCallback cb, gpointer ud)
{
	GTask *task = g_task_new(NULL, cancel, cb, ud);
	struct authz *a = g_new0(struct authz, 1);
	GDBusMessage *msg = g_dbus_method_invocation_get_message(inv);

	a->conn = g_object_ref(g_dbus_method_invocation_get_connection(inv));
	a->sender = g_strdup(g_dbus_method_invocation_get_sender(inv));
	a->action = g_strdup(action);
	a->details = details ? g_variant_ref_sink(details)
			     : g_variant_ref_sink(g_variant_new_array(G_VARIANT_TYPE("{ss}"), NULL, 0));
	a->interactive = (g_dbus_message_get_flags(msg) &
			  G_DBUS_MESSAGE_FLAGS_ALLOW_INTERACTIVE_AUTHORIZATION) != 0;
	g_task_set_task_data(task, a, authz_free);
	if (!a->sender) {
		/* a peer-to-peer connection has no bus to ask */
		g_task_return_new_error(task, VE_ERROR, VE_ERROR_DENIED,
					"a caller without a bus name cannot be authorized");
		g_object_unref(task);
		return;
	}
	g_dbus_connection_call(a->conn, "org.freedesktop.DBus", "/org/freedesktop/DBus",
			       "org.freedesktop.DBus", "GetConnectionUnixUser",
			       g_variant_new("(s)", a->sender), G_VARIANT_TYPE("(u)"),
			       G_DBUS_CALL_FLAGS_NONE, QUICK_TIMEOUT_MS, cancel, on_uid, task);
}

gboolean ve_authz_check_finish(GAsyncResult *res, GError **error)
{
	g_return_val_if_fail(g_task_is_valid(res, NULL), FALSE);
	return g_task_propagate_boolean(G_TASK(res), error);
}
