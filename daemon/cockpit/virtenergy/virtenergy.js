// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * virtenergy.js: the Cockpit page's logic (index.html), on Cockpit's own
 * cockpit.js and nothing else, so the page needs no build step.
 *
 * Reads: one cockpit.dbus() client for org.virtenergy.Manager1 on the
 * system bus, watching /org/virtenergy; a proxy for the host's object and
 * the proxies of every org.virtenergy.VM1 object under the ObjectManager.
 * The daemon sends PropertiesChanged once a second with what changed, so
 * the proxies' properties are always current: the page only draws them.
 * Graphs are kept here, one sample a second from the proxies, for the
 * last HISTORY_S seconds (virtenergyd keeps no history of power).
 *
 * Writes: SetVMLimit/ClearVMLimit/SetHostCap/ClearHostCap on the host's
 * object, as the session's user.  virtenergyd allows root and whom polkit
 * authorizes (org.virtenergy.set-limit, org.virtenergy.set-host-cap); a
 * refusal, like every other failure, is shown in the page's alert with
 * the daemon's own words.  The figures change when the daemon says so (a
 * limit goes through the domain's metadata and comes back as LimitW),
 * never because the page guessed.
 *
 * Everything shown is set with textContent or SVG attributes: names come
 * from libvirt and are not trusted as markup.
 */
"use strict";

(function () {
    const BUS_NAME = "org.virtenergy.Manager1";
    const MANAGER_IFACE = "org.virtenergy.Manager1";
    const MANAGER_PATH = "/org/virtenergy/Manager1";
    const VM_IFACE = "org.virtenergy.VM1";
    const ROOT_PATH = "/org/virtenergy";
    const HISTORY_S = 300;
    const COMPONENTS = ["vcpu", "emulator", "io", "disk", "idle", "service"];
    const SVG_NS = "http://www.w3.org/2000/svg";
    const STATE_TEXT = {
        none: "no limit",
        held: "held",
        "at-floor": "at its floor, over its limit",
        "not-enforceable": "not enforceable",
    };

    let client = null;
    let manager = null;
    const rows = {};          /* object path -> row of the VM table */
    const hostHistory = [];   /* [seconds, watts], oldest first */

    function $(id) {
        return document.getElementById(id);
    }

    function el(tag, cls, text) {
        const e = document.createElement(tag);
        if (cls)
            e.className = cls;
        if (text !== undefined)
            e.textContent = text;
        return e;
    }

    function formatW(w) {
        if (typeof w !== "number" || !isFinite(w))
            return "–";
        if (w >= 100)
            return w.toFixed(0) + " W";
        if (w >= 10)
            return w.toFixed(1) + " W";
        return w.toFixed(2) + " W";
    }

    function formatJ(j) {
        if (typeof j !== "number" || !isFinite(j))
            return "–";
        if (j >= 1e9)
            return (j / 1e9).toFixed(2) + " GJ";
        if (j >= 1e6)
            return (j / 1e6).toFixed(2) + " MJ";
        if (j >= 1e3)
            return (j / 1e3).toFixed(2) + " kJ";
        return j.toFixed(1) + " J";
    }

    /* The alert at the top: what failed (TITLE) and the daemon's or Cockpit's words. */
    function showError(title, err) {
        let text = cockpit.message(err);
        if (err && err.name)
            text += " (" + err.name + ")";
        $("ve-error-title").textContent = title;
        $("ve-error-text").textContent = text;
        $("ve-error").hidden = false;
    }

    function clearError() {
        $("ve-error").hidden = true;
        $("ve-error-text").textContent = "";
    }

    /* A power the user typed: a number of watts above 0, or null after saying why not. */
    function readWatts(input, what) {
        const w = Number(input.value);
        if (input.value.trim() === "" || !isFinite(w) || w <= 0) {
            showError("Cannot set " + what, { message: "'" + input.value + "' is not a power above 0 W" });
            return null;
        }
        return w;
    }

    /*
     * A write on the host's object; resolves to whether it was done.  "i" lets polkit ask an agent for a
     * password where the session has one; virtenergyd answers root at once.
     */
    function write(method, args, title, buttons) {
        buttons.forEach(b => { b.disabled = true });
        return client.call(MANAGER_PATH, MANAGER_IFACE, method, args, { flags: "i" })
                .then(() => { clearError(); return true })
                .catch(ex => { showError(title, ex); return false })
                .finally(() => buttons.forEach(b => { b.disabled = false }));
    }

    /*
     * A power graph in SVG: on x the samples' span ending now (at least a
     * minute, growing to HISTORY_S as they come), on y 0 to a bit above
     * the highest sample (or the limit), the limit dashed.
     */
    function drawGraph(svg, samples, limitW, now) {
        const box = svg.viewBox.baseVal;
        const wd = box && box.width ? box.width : 160;
        const ht = box && box.height ? box.height : 40;
        let top = limitW > 0 ? limitW : 0;
        samples.forEach(s => { top = Math.max(top, s[1]) });
        top = top > 0 ? top * 1.15 : 1;
        while (svg.firstChild)
            svg.removeChild(svg.firstChild);
        const span = samples.length > 0 ? Math.min(HISTORY_S, Math.max(60, now - samples[0][0])) : 60;
        const x = t => wd - (now - t) / span * wd;
        const y = w => ht - 2 - w / top * (ht - 12);
        const bg = document.createElementNS(SVG_NS, "rect");
        bg.setAttribute("class", "ve-graph-bg");
        bg.setAttribute("width", wd);
        bg.setAttribute("height", ht);
        svg.appendChild(bg);
        if (limitW > 0) {
            const l = document.createElementNS(SVG_NS, "line");
            l.setAttribute("class", "ve-graph-limit");
            l.setAttribute("x1", 0);
            l.setAttribute("x2", wd);
            l.setAttribute("y1", y(limitW));
            l.setAttribute("y2", y(limitW));
            svg.appendChild(l);
        }
        if (samples.length > 0) {
            const pts = samples.map(s => x(s[0]).toFixed(1) + "," + y(s[1]).toFixed(1));
            const area = document.createElementNS(SVG_NS, "polygon");
            area.setAttribute("class", "ve-graph-area");
            area.setAttribute("points", x(samples[0][0]).toFixed(1) + "," + (ht - 2) + " " + pts.join(" ") +
                              " " + x(samples[samples.length - 1][0]).toFixed(1) + "," + (ht - 2));
            svg.appendChild(area);
            const line = document.createElementNS(SVG_NS, "polyline");
            line.setAttribute("class", "ve-graph-line");
            line.setAttribute("points", pts.join(" "));
            svg.appendChild(line);
        }
        const label = document.createElementNS(SVG_NS, "text");
        label.setAttribute("class", "ve-graph-label");
        label.setAttribute("x", 3);
        label.setAttribute("y", 9);
        label.textContent = formatW(top) + " · last " + Math.round(span / 60) + " min";
        svg.appendChild(label);
        svg.setAttribute("data-samples", samples.length);
    }

    function record(history, now, w) {
        if (typeof w === "number" && isFinite(w))
            history.push([now, w]);
        while (history.length > 0 && history[0][0] < now - HISTORY_S)
            history.shift();
    }

    /* --- the host --- */

    function updateHost() {
        if (!manager || !manager.valid)
            return;
        $("ve-daemon").textContent = "virtenergyd " + (manager.Version || "");
        $("ve-host-power").textContent = formatW(manager.PowerW);
        const sensor = manager.Sensor || "–";
        $("ve-host-sensor").textContent = sensor +
                (manager.Estimated && !/estimated/.test(sensor) ? " (estimated)" : "");
        $("ve-host-sampler").textContent = manager.Sampler || "–";
        $("ve-host-energy").textContent = formatJ(manager.EnergyJ);
        $("ve-host-own").textContent = formatJ(manager.HostOwnEnergyJ);
        $("ve-host-unattributed").textContent = formatJ(manager.UnattributedEnergyJ);
        $("ve-host-cap").textContent = manager.HostCapW > 0 ? formatW(manager.HostCapW) : "none";
    }

    /* --- the VMs --- */

    function makeRow(path) {
        const r = { path: path, history: [] };
        r.tr = el("tr", "ve-vm");
        r.name = el("td", "ve-name");
        r.nameText = el("span", "ve-vm-name");
        r.running = el("span", "ve-muted ve-small ve-running");
        r.name.append(r.nameText, el("br"), r.running);
        r.power = el("td", "ve-power ve-num");
        const gtd = el("td", "ve-graph-cell");
        r.graph = document.createElementNS(SVG_NS, "svg");
        r.graph.setAttribute("class", "ve-graph");
        r.graph.setAttribute("viewBox", "0 0 160 40");
        r.graph.setAttribute("role", "img");
        gtd.appendChild(r.graph);
        r.comps = el("td", "ve-components");
        r.bar = el("div", "ve-bar");
        r.compList = el("ul", "ve-comp-list");
        r.comps.append(r.bar, r.compList);
        r.limit = el("td", "ve-limit ve-num");
        r.stateTd = el("td", "ve-state-cell");
        r.state = el("span", "ve-state");
        r.reason = el("div", "ve-reason ve-muted ve-small");
        r.stateTd.append(r.state, r.reason);
        const ftd = el("td", "ve-limit-form-cell");
        r.form = el("form", "ve-inline-form");
        r.form.noValidate = true;   /* readWatts() says what is wrong, in the alert */
        r.input = el("input", "ve-limit-input");
        r.input.type = "number";
        r.input.min = "0.001";
        r.input.step = "any";
        r.input.placeholder = "W";
        r.set = el("button", "ve-btn ve-set-limit", "Set");
        r.set.type = "submit";
        r.clear = el("button", "ve-btn ve-secondary ve-clear-limit", "Clear");
        r.clear.type = "button";
        r.form.append(r.input, el("span", "ve-unit", "W"), r.set, r.clear);
        ftd.appendChild(r.form);
        r.tr.append(r.name, r.power, gtd, r.comps, r.limit, r.stateTd, ftd);

        r.form.addEventListener("submit", ev => {
            ev.preventDefault();
            const w = readWatts(r.input, "the limit of VM '" + r.vmName + "'");
            if (w !== null)
                write("SetVMLimit", [r.uuid, w], "Could not set the limit of VM '" + r.vmName + "'",
                      [r.set, r.clear]).then(ok => { if (ok) r.input.value = "" });
        });
        r.clear.addEventListener("click", () => {
            write("ClearVMLimit", [r.uuid], "Could not clear the limit of VM '" + r.vmName + "'",
                  [r.set, r.clear]);
        });
        return r;
    }

    function updateRow(r, vm) {
        r.uuid = vm.UUID;
        r.vmName = vm.Name;
        r.tr.setAttribute("data-vm-name", vm.Name);
        r.tr.setAttribute("data-vm-uuid", vm.UUID);
        r.tr.setAttribute("data-limit-state", vm.LimitState || "none");
        r.nameText.textContent = vm.Name;
        r.nameText.title = vm.UUID;
        r.running.textContent = (vm.Running ? "running" : "not running") + " · " + vm.VCPUs + " vCPU" +
                                (vm.VCPUs === 1 ? "" : "s");
        r.power.textContent = formatW(vm.PowerW);
        r.graph.setAttribute("aria-label", "power of " + vm.Name + " over the last minutes");

        const comps = vm.ComponentEnergyJ || {};
        let total = 0;
        COMPONENTS.forEach(c => { total += comps[c] || 0 });
        r.bar.textContent = "";
        r.compList.textContent = "";
        COMPONENTS.forEach(c => {
            const j = comps[c] || 0;
            if (j <= 0)
                return;
            const seg = el("span", "ve-seg ve-c-" + c);
            seg.style.width = (total > 0 ? j / total * 100 : 0).toFixed(2) + "%";
            seg.title = c + ": " + formatJ(j);
            r.bar.appendChild(seg);
            const li = el("li", "ve-comp");
            li.setAttribute("data-component", c);
            li.append(el("span", "ve-dot ve-c-" + c), document.createTextNode(c + " " + formatJ(j)));
            r.compList.appendChild(li);
        });
        if (!r.compList.firstChild)
            r.compList.appendChild(el("li", "ve-muted", "nothing yet"));

        r.limit.textContent = vm.LimitW > 0 ? formatW(vm.LimitW) : "none";
        if (vm.AllocationW > 0)
            r.limit.append(el("br"), el("span", "ve-muted ve-small", "share of cap " + formatW(vm.AllocationW)));
        const state = vm.LimitState || "none";
        r.state.textContent = STATE_TEXT[state] || state;
        r.state.className = "ve-state ve-state-" + state;
        r.reason.textContent = vm.LimitReason || "";
    }

    function sortRows() {
        const body = $("ve-vm-rows");
        Object.values(rows)
                .sort((a, b) => String(a.vmName).localeCompare(String(b.vmName)))
                .forEach(r => body.appendChild(r.tr));
        const any = Object.keys(rows).length > 0;
        $("ve-vms").hidden = !any;
        $("ve-vms-empty").hidden = any;
    }

    function vmAdded(proxy) {
        if (rows[proxy.path])
            return;
        const r = makeRow(proxy.path);
        rows[proxy.path] = r;
        updateRow(r, proxy);
        sortRows();
    }

    function vmChanged(proxy) {
        const r = rows[proxy.path];
        if (!r)
            return vmAdded(proxy);
        updateRow(r, proxy);
    }

    function vmRemoved(proxy) {
        const r = rows[proxy.path];
        if (!r)
            return;
        r.tr.remove();
        delete rows[proxy.path];
        sortRows();
    }

    /* Once a second: a sample of every power, and the graphs redrawn. */
    function tick(vms) {
        const now = Date.now() / 1000;
        if (manager && manager.valid) {
            record(hostHistory, now, manager.PowerW);
            drawGraph($("ve-host-graph"), hostHistory, manager.HostCapW, now);
        }
        Object.keys(rows).forEach(path => {
            const r = rows[path];
            const vm = vms[path];
            if (vm)
                record(r.history, now, vm.PowerW);
            drawGraph(r.graph, r.history, vm ? vm.LimitW : 0, now);
        });
    }

    function init() {
        $("ve-error-close").addEventListener("click", clearError);
        client = cockpit.dbus(BUS_NAME, { bus: "system" });
        client.addEventListener("close", (ev, options) => {
            $("ve-daemon").textContent = "disconnected";
            showError("Lost the connection to virtenergyd", options);
        });
        client.addEventListener("owner", (ev, owner) => {
            if (owner === null) {
                $("ve-daemon").textContent = "virtenergyd is not running";
                showError("virtenergyd is not on the system bus",
                          { message: "no process owns " + BUS_NAME + " (systemctl status virtenergyd)" });
            } else if ($("ve-error-title").textContent === "virtenergyd is not on the system bus") {
                clearError();
            }
        });
        client.watch({ path_namespace: ROOT_PATH });
        manager = client.proxy(MANAGER_IFACE, MANAGER_PATH);
        manager.addEventListener("changed", updateHost);
        manager.wait().then(updateHost);

        const vms = client.proxies(VM_IFACE, ROOT_PATH);
        vms.addEventListener("added", (ev, proxy) => vmAdded(proxy));
        vms.addEventListener("changed", (ev, proxy) => vmChanged(proxy));
        vms.addEventListener("removed", (ev, proxy) => vmRemoved(proxy));
        vms.wait().then(() => {
            Object.keys(vms).forEach(path => vmAdded(vms[path]));
            sortRows();
        });

        $("ve-host-cap-form").addEventListener("submit", ev => {
            ev.preventDefault();
            const input = $("ve-host-cap-input");
            const w = readWatts(input, "the host cap");
            if (w !== null)
                write("SetHostCap", [w], "Could not set the host cap",
                      [$("ve-set-host-cap"), $("ve-clear-host-cap")]).then(ok => { if (ok) input.value = "" });
        });
        $("ve-clear-host-cap").addEventListener("click", () => {
            write("ClearHostCap", [], "Could not clear the host cap",
                  [$("ve-set-host-cap"), $("ve-clear-host-cap")]);
        });

        window.setInterval(() => tick(vms), 1000);
    }

    document.addEventListener("DOMContentLoaded", init);
}());
