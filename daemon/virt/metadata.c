// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * metadata.c: writing a VM's energy metadata (see metadata.h).
 */
#include <gio/gio.h>
#include <string.h>

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

#include "error.h"
#include "energylimits.h"
#include "metadata.h"

gboolean ve_virt_set_power_limit(struct ve_virt *v, const char *vm, uint64_t uw,
				 char ret_uuid[VIR_UUID_STRING_BUFLEN], GError **error)
{
	virConnectPtr conn = ve_virt_conn(v);
	virDomainPtr dom = NULL;
	char uuid[VIR_UUID_STRING_BUFLEN];
	g_autofree char *old = NULL, *xml = NULL;
	struct ve_limits lim;
	unsigned int flags = VIR_DOMAIN_AFFECT_LIVE;
	int r;

	if (!conn) {
		g_set_error(error, VE_ERROR, VE_ERROR_NOT_CONNECTED, "not connected to libvirt");
		return FALSE;
	}
	dom = virDomainLookupByUUIDString(conn, vm);
	if (!dom)
		dom = virDomainLookupByName(conn, vm);
	if (!dom || virDomainGetUUIDString(dom, uuid) < 0) {
		if (dom)
			virDomainFree(dom);
		g_set_error(error, VE_ERROR, VE_ERROR_NOT_FOUND, "no VM '%s'", vm);
		return FALSE;
	}
	ve_limits_init(&lim);
	{
		g_autofree char *why = NULL;

		old = ve_virt_get_metadata(v, uuid, &why);
		if (!old && why) {
			/* a foreign document under our key: writing ours beside it would not clear it */
			virDomainFree(dom);
			g_set_error(error, VE_ERROR, VE_ERROR_FAILED,
				    "refused for VM '%s': %s; its limits are unchanged", vm, why);
			return FALSE;
		}
	}
	if (old && !ve_limits_parse(old, &lim, NULL))
		ve_limits_init(&lim);   /* what was there was refused anyway: start clean */
	lim.power_limit_uw = uw;
	if (lim.guarantee_uw > uw && uw)
		lim.guarantee_uw = uw;
	xml = ve_limits_format(&lim);
	/*
	 * What is written must be what the reader accepts, by the reader's
	 * own rules (1 mW to 100 kW, ...): else the VM would be unlimited at
	 * the next read or the next start.
	 */
	if (xml) {
		g_autoptr(GError) perr = NULL;
		struct ve_limits back;

		if (!ve_limits_parse(xml, &back, &perr)) {
			virDomainFree(dom);
			g_set_error(error, VE_ERROR, VE_ERROR_INVALID,
				    "refused for VM '%s': %s; its limits are unchanged", vm, perr->message);
			return FALSE;
		}
	}
	if (virDomainIsActive(dom) != 1)
		flags = VIR_DOMAIN_AFFECT_CONFIG;
	else if (virDomainIsPersistent(dom) == 1)
		flags |= VIR_DOMAIN_AFFECT_CONFIG;
	r = virDomainSetMetadata(dom, VIR_DOMAIN_METADATA_ELEMENT, xml, xml ? "energy" : NULL,
				 VE_ENERGY_NS, flags);
	virDomainFree(dom);
	if (r < 0) {
		virErrorPtr e = virGetLastError();

		g_set_error(error, VE_ERROR, VE_ERROR_FAILED, "libvirt refused the metadata of '%s': %s",
			    vm, e && e->message ? e->message : "unknown error");
		return FALSE;
	}
	memcpy(ret_uuid, uuid, sizeof(uuid));
	return TRUE;
}
