/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * authz.h: may the caller of a D-Bus method do it?  Root may, always, with
 * no polkit daemon and no agent; anyone else may when polkit says so for
 * the method's action (conf/org.virtenergy.policy).
 *
 * Asynchronous: both questions (who is the caller, asked of the bus; is
 * that uid authorized, asked of org.freedesktop.PolicyKit1 on the same
 * bus) are calls on the invocation's connection, so the main loop and its
 * periods go on while polkit decides, or while an agent asks a person for
 * a password (the caller set ALLOW_INTERACTIVE_AUTHORIZATION on its call).
 * Runs on the thread-default main context of the caller of
 * ve_authz_check().
 */
#pragma once

#include <gio/gio.h>

/* The actions, as conf/org.virtenergy.policy declares them. */
#define VE_AUTHZ_SET_LIMIT "org.virtenergy.set-limit"
#define VE_AUTHZ_SET_HOST_CAP "org.virtenergy.set-host-cap"
#define VE_AUTHZ_SET_FLEET "org.virtenergy.set-fleet"

/*
 * Ask whether the caller of @inv may do @action.  @details (a{ss}, may be
 * NULL; a floating reference is sunk) are passed to polkit, for rules to
 * read (action.lookup("vm_uuid")).  @cb runs once with the answer, which
 * ve_authz_check_finish() gives; cancelling @cancel makes it
 * G_IO_ERROR_CANCELLED.  @inv is not completed here.
 */
void ve_authz_check(GDBusMethodInvocation *inv, const char *action, GVariant *details,
		    GCancellable *cancel, GAsyncReadyCallback cb, gpointer ud);

/*
 * TRUE when allowed.  Otherwise FALSE with *@error VE_ERROR_DENIED saying
 * who was refused and why (polkit said no, wants an authentication no
 * agent gave, or is not there to ask), or G_IO_ERROR_CANCELLED.
 */
gboolean ve_authz_check_finish(GAsyncResult *res, GError **error);
