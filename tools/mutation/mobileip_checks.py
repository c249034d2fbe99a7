"""Delete one security check of the Mobile IP engines at a time and name the
first test that catches it (issue 13: "for each check, a test that fails when
the check is removed"). Each mutant is a textual replacement in one file,
applied, tested with the engines' unit tests (-x) and reverted, even on
Ctrl-C. A mutant whose text no longer matches is reported BAD MUTANT (the
code moved: update the list); SURVIVED means no test caught it.

    .venv/bin/python tools/mutation/mobileip_checks.py            # all
    .venv/bin/python tools/mutation/mobileip_checks.py fa-reply-source

Not a CI test: ~70 runs of the engine tests, ~10 minutes on 2 cores.
"""
import json
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]
SEC = "agent/mobileip/security.py"; REP = "agent/mobileip/replay.py"
HA = "agent/mobileip/home_agent.py"; FA = "agent/mobileip/foreign_agent.py"
PX = "agent/mobileip/proxy.py"; SN = "agent/access/snoop.py"
PT = "agent/mobileip/pending_table.py"
M = [
 ("sec-spi-range", SEC, "        if not MIN_SPI <= self.spi <= 0xFFFFFFFF:", "        if False:"),
 ("sec-empty-key", SEC, "        if len(self.key) == 0:", "        if False:"),
 ("sec-replay-window", SEC, "        if self.replay_window <= 0:", "        if False:"),
 ("sec-verify-always", SEC, "        return hmac.compare_digest(self.compute(data), authenticator)", "        return True"),
 ("sec-covered-excludes-spi", SEC, "    return raw[: extension.offset + 6]", "    return raw[: extension.offset]"),
 ("sec-duplicate-spi", SEC, '''        if sa.spi in by_spi:
            raise ConfigurationError(f"duplicate SPI {sa.spi} for {address}")''', "        pass"),
 ("sec-range-reversed", SEC, '''        if lo > hi:
            raise''', '''        if False:
            raise'''),
 ("sec-range-overlap", SEC, "        if (before and before.high >= lo) or (after and after.low <= hi):", "        if False:"),
 ("sec-range-high-bound", SEC, "        if index >= 0 and self._ranges[index].high >= value:", "        if index >= 0:"),
 ("sec-lookup-fallback", SEC, "        return by_spi.get(spi) if by_spi else None", "        return (by_spi.get(spi) or by_spi[min(by_spi)]) if by_spi else None"),
 ("rep-window", REP, "    if abs(ntp_seconds(identification, near=now) - now) > window:", "    if False:"),
 ("rep-monotonic", REP, "    return last_accepted is None or (\n        _era_extended(identification, now) > _era_extended(last_accepted, now))", "    return True"),
 ("rep-monotonic-equal", REP, "_era_extended(identification, now) > _era_extended(last_accepted, now))", "_era_extended(identification, now) >= _era_extended(last_accepted, now))"),
 ("rep-era-ignored", REP, "    if near is not None:\n        seconds += ERA", "    if False:\n        seconds += ERA"),
 ("rep-133-low32", REP, "    return (((int(now) + NTP_EPOCH_OFFSET) % ERA) << 32) | (request_identification & _LOW32)", "    return (((int(now) + NTP_EPOCH_OFFSET) % ERA) << 32)"),
 ("rep-nonce-low32", REP, "    return ((home_agent_nonce & _LOW32) << 32) | (request_identification & _LOW32)", "    return ((home_agent_nonce & _LOW32) << 32)"),
 ("ha-one-mhae", HA, "        if len(mhaes) != 1:\n            # Exactly one authorization-enabling", "        if not mhaes:\n            # Exactly one authorization-enabling"),
 ("ha-mhae-authenticator", HA, "        if not check_extension(request.raw, mhae, sa):\n            self._violation(home, mhae.spi, request, ViolationReason.BAD_AUTHENTICATOR, now)\n            raise mn_failed", "        pass"),
 ("ha-spi-fallback", HA, "            sa = self.mobile_node_sas.lookup(home, mhae.spi)\n        if sa is None:", "            sa = self.mobile_node_sas.lookup(home, mhae.spi) or self.mobile_node_sas.preferred(home)\n        if sa is None:"),
 ("ha-fhae-count", HA, "        if len(fhaes) != 1 or len(request.extensions_of(FHAE)) != 1:", "        if not fhaes:"),
 ("ha-fhae-spi", HA, "        if peer_sa is None:\n            self._violation(source, fhae.spi, request, ViolationReason.BAD_SPI, now)\n            raise denied", "        if peer_sa is None:\n            peer_sa = self.peer_sas.preferred(source)"),
 ("ha-fhae-authenticator", HA, "        if not check_extension(request.raw, fhae, peer_sa):\n            self._violation(source, fhae.spi, request, ViolationReason.BAD_AUTHENTICATOR, now)\n            raise denied", "        pass"),
 ("ha-fhae-skipped", HA, "        self._authenticate_foreign_agent(request, mhae, source, sa, now)\n", ""),
 ("ha-identification", HA, "        if not self._identification_valid(request, sa, node, now):", "        if False:"),
 ("ha-136", HA, "        if request.home_agent != s.address or (destination is not None and destination == broadcast):", "        if destination is not None and destination == broadcast:"),
 ("ha-136-broadcast", HA, "        if request.home_agent != s.address or (destination is not None and destination == broadcast):", "        if request.home_agent != s.address:"),
 ("ha-139-encapsulation", HA, "            raise _Denied(ReplyCode.HA_REQUESTED_ENCAPSULATION_UNAVAILABLE)", "            pass"),
 ("ha-137-T-unavailable", HA, "            raise _Denied(ReplyCode.HA_REVERSE_TUNNEL_UNAVAILABLE)  # RFC 3024 §4.3", "            pass"),
 ("ha-138-T-mandatory", HA, "            raise _Denied(ReplyCode.HA_REVERSE_TUNNEL_MANDATORY)", "            pass"),
 ("ha-dereg-skips-checks", HA, "        if request.is_deregistration:\n            return\n        if (flags & _GRE", "        if (flags & _GRE"),
 ("ha-135-too-many", HA, "            raise _Denied(ReplyCode.HA_TOO_MANY_SIMULTANEOUS_BINDINGS)", "            pass"),
 ("ha-130-max-bindings", HA, "        if is_new and self.binding_count - len(replaced) >= self.settings.max_bindings:", "        if False:"),
 ("ha-lifetime-cap", HA, "        lifetime = min(lifetime, self.settings.max_lifetime)  # never lengthen (§3.8.2.2)", "        pass"),
 ("ha-oracle-131", HA, "        mn_failed = _Denied(ReplyCode.HA_MOBILE_NODE_FAILED_AUTHENTICATION)", "        mn_failed = _Denied(ReplyCode.HA_MOBILE_NODE_FAILED_AUTHENTICATION, sa=self.mobile_node_sas.preferred(home))"),
 ("ha-oracle-134", HA, "        self._reply(reply, None, source, port, deregistration=partial.lifetime == 0,\n                    foreign_home=False)", "        self._reply(reply, self.mobile_node_sas.preferred(partial.home_address), source, port, deregistration=partial.lifetime == 0)"),
 ("ha-oracle-fhae", HA, "        foreign_home = denial.sa is not None or self._foreign_agent_vouches(request, source)", "        foreign_home = True"),
 ("fa-mfae", FA, "        if not self.mobile_node_sas.has(home):\n            return\n        mfaes", "        return\n        mfaes"),
 ("fa-mfae-authenticator", FA, "            elif not check_extension(request.raw, mfaes[0], sa):\n                reason = ViolationReason.BAD_AUTHENTICATOR", "            elif False:\n                reason = ViolationReason.BAD_AUTHENTICATOR"),
 ("fa-69-lifetime", FA, "        if request.lifetime > s.max_lifetime:", "        if False:"),
 ("fa-72-encapsulation", FA, "            raise _Denied(ReplyCode.FA_REQUESTED_ENCAPSULATION_UNAVAILABLE)", "            pass"),
 ("fa-74-T-unavailable", FA, "            raise _Denied(ReplyCode.FA_REVERSE_TUNNEL_UNAVAILABLE)  # RFC 3024 §3.3", "            pass"),
 ("fa-75-T-mandatory", FA, "            raise _Denied(ReplyCode.FA_REVERSE_TUNNEL_MANDATORY)", "            pass"),
 ("fa-77-coa", FA, "            raise _Denied(ReplyCode.FA_INVALID_CARE_OF_ADDRESS)", "            pass"),
 ("fa-66-per-node", PT, "        if self._per_node.get((key >> 32 << 48) | requester_id, 0) >= max_per_node:", "        if False:"),
 ("fa-per-node-by-home-only", PT, "        if self._per_node.get((key >> 32 << 48) | requester_id, 0) >= max_per_node:", "        if sum(int(e.home_address) == key >> 32 for e in self._entries.values()) >= max_per_node:"),
 ("fa-pending-unbounded", PT, "        if len(self._entries) < max_entries:\n            return None", "        if True:\n            return None"),
 ("fa-full-refuses-everyone", PT, "            return None\n        return self._eviction_for(requester)", "            return None\n        raise Refusal(FULL)"),
 ("fa-evict-not-heaviest-source", PT, "        if sources.count(source) < sources.largest:", "        if False:"),
 ("fa-heaviest-port-evicts", PT, "        if ports.count(port) < ports.largest:", "        if len(ports) > 1:"),
 ("fa-copy-replaces-pending", PT, "            raise Refusal(IN_USE)", "            return None"),
 ("fa-eviction-unanswered", FA, "            self._evict_pending(evict)", "            self._forget_pending(evict)"),
 ("fa-busy-on-full-pending", FA, "        return len(self._visitors) >= self.settings.max_visitors\n", "        return len(self._visitors) >= self.settings.max_visitors or len(self._pending) >= self.settings.max_pending\n"),
 ("fa-66-visitors", FA, "            and len(self._visitors) >= s.max_visitors\n        ):", "            and False\n        ):"),
 ("fa-require-ha-auth", FA, "        if s.require_home_agent_authentication and not self.home_agent_sas.has(request.home_agent):", "        if False:"),
 ("fa-conflict-request", FA, "        if self._conflicts_with_visitor(request.home_address, request.home_agent) and not (", "        if False and not ("),
 ("fa-conflict-reply", FA, "        if reply.accepted and self._conflicts_with_visitor(pending.home_address, pending.home_agent):", "        if False:"),
 ("fa-leaving-ha", FA, "        return visitor is not None and self._pending.deregistration_pending(home, visitor.home_agent)", "        return visitor is not None and any(p.lifetime == 0 and p.home_address == home for p in self._pending)"),
 ("fa-reply-source", FA, "            or source != pending.home_agent\n", ""),
 ("fa-reply-port", FA, "            or port != self.settings.home_agent_port\n", ""),
 ("fa-fhae-required", FA, "        if not self.home_agent_sas.has(pending.home_agent):\n            return True\n        fhaes", "        return True\n        fhaes"),
 ("fa-fhae-authenticator", FA, "            elif not check_extension(reply.raw, fhaes[0], sa):\n                reason = ViolationReason.BAD_AUTHENTICATOR\n        if reason is None:", "            elif False:\n                reason = ViolationReason.BAD_AUTHENTICATOR\n        if reason is None:"),
 ("fa-fhae-appended", FA, "            relayed = authenticate(relayed, FHAE, ha_sa)  # RFC 5944 §3.7.2.2", "            pass"),
 ("fa-cut-after-mhae", FA, "        relayed = _cut_after(request.raw, request.extensions, MHAE)\n", "        relayed = request.raw\n"),
 ("fa-reply-mfae-appended", FA, "            relayed = authenticate(relayed, MFAE, mn_sa)\n        self._outbox.append(Transmit(relayed, pending.source_address", "            pass\n        self._outbox.append(Transmit(relayed, pending.source_address"),
 ("fa-malformed-reply-source", FA, "                pending = self._matching_pending(\n                    exc.partial.home_address, exc.partial.identification, source, port)", "                pending = self._pending.get(pending_key(exc.partial.home_address, exc.partial.identification))"),
 ("px-address-conflict", PX, "            if other.state is not VisitorState.DEREGISTERING or not other.deregistration:", "            if False:"),
 ("px-max-visitors", PX, "        if len(self._visitors) < self.settings.max_visitors:", "        if True:"),
 ("px-advertisement-ttl", PX, "        if ttl is not None and ttl != 1:", "        if False:"),
 ("px-max-foreign-agents", PX, "        if previous is None and len(self._foreign_agents) >= self.settings.max_foreign_agents:", "        if False:"),
 ("px-reboot-hold-down", PX, "            if last is not None and now - last < REBOOT_HOLD_DOWN:", "            if False:"),
 ("px-reply-identification", PX, "        if visitor is None or not any(replay.low32(i) == low for i in self._matchable(visitor)):", "        if visitor is None:"),
 ("px-reply-authenticated", PX, "        if not check.ok:\n            self.counters.bad_replies += 1", "        if False:\n            self.counters.bad_replies += 1"),
 ("px-retry-keeps-slot", PX, "        else:\n            self._outstanding_done(visitor, now)\n            self._denied(visitor, code, now)", "        else:\n            self._denied(visitor, code, now)"),
 ("px-133-ordering-not-clock", PX, "        if abs(sent_time - (ha_time + 0.5)) <= max(window - 0.5, 0.5):", "        if False:"),
 ("px-133-clock-forward", PX, "= max(offset, ha_time - now)", "= offset"),
 ("px-133-above-own-clock", PX, "replay.ntp_identification(now + offset + step)", "replay.ntp_identification(ha_time + step)"),
 ("px-133-anchored-to-clocks", PX, "replay.ntp_identification(now + offset + step)", "replay.ntp_identification(max(now + offset, sent_time) + step)"),
 ("px-133-second-retry-further", PX, "step = 1.0 + visitor.resyncs", "step = 1.0"),
 ("px-133-clock-never-back", PX, "= max(offset, ha_time - now)", "= ha_time - now"),
 ("px-133-stale-deregistration-done", PX, "                    self._finish_deregistration(visitor)\n                    return\n                # Our clock is off", "                    pass\n                # Our clock is off"),
 ("sn-max-stations", SN, "            if len(self._clients) >= self.max_stations:\n                self.stations_refused += 1\n                return None", "            if False:\n                return None"),
 ("sn-unassociated-bound", SN, "        elif len(table) >= self.max_unassociated:", "        elif False:"),
 ("sn-unassociated-not-reported", SN, "            if not self.associates:\n                self._remember_unassociated(mac, address)\n                return None", "            if False:\n                return None"),
]
TESTS = ["tests/unit/test_security.py", "tests/unit/test_replay.py", "tests/unit/test_home_agent.py",
         "tests/unit/test_home_agent_attacks.py", "tests/unit/test_home_agent_radius.py",
         "tests/unit/test_foreign_agent.py", "tests/unit/test_foreign_agent_attacks.py",
         "tests/unit/test_foreign_agent_flood.py",
         "tests/unit/test_pair.py", "tests/unit/test_proxy.py", "tests/unit/test_config.py",
         "tests/unit/test_registration_codec.py", "tests/unit/test_engine_fuzz.py",
         "tests/unit/test_client_detection_attacks.py", "tests/unit/test_client_snoop.py",
         "tests/unit/test_visitor_lifecycle.py", "tests/unit/test_proxy_roaming.py"]

only = sys.argv[1:]
results = {}
for name, path, old, new in M:
    if only and name not in only:
        continue
    file = ROOT / path
    original = file.read_text()
    if original.count(old) != 1:
        results[name] = f"BAD MUTANT ({original.count(old)} matches)"
        print(name, results[name], flush=True)
        continue
    file.write_text(original.replace(old, new))
    try:
        proc = subprocess.run([str(ROOT / ".venv/bin/python"), "-m", "pytest", "-q", "-p", "no:cacheprovider",
                               "-x", "--no-header", "-rf", *TESTS], cwd=ROOT, capture_output=True, text=True, timeout=900)
        failed = [l.split(" ", 1)[1].split(" - ")[0] for l in proc.stdout.splitlines() if l.startswith("FAILED ")]
        results[name] = failed[0] if failed else ("SURVIVED" if proc.returncode == 0 else f"rc={proc.returncode} {proc.stdout[-300:]}")
    finally:
        file.write_text(original)
    print(name, "->", results[name], flush=True)
survivors = [name for name, outcome in results.items() if not outcome.startswith("tests/")]
print(json.dumps({"mutants": len(results), "not caught": survivors}))
sys.exit(1 if survivors else 0)
