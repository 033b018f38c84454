import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { judgeIptablesSave, judgeNftRuleset } from '../../src/doctor/firewall.js';

// Real `nft -j list ruleset` / `iptables-legacy-save` captures: test/fixtures/doctor/capture-firewalls.sh.
const dir = join(import.meta.dirname, '../fixtures/doctor/firewall');
const nft = (name: string) => judgeNftRuleset(JSON.parse(readFileSync(join(dir, `${name}.json`), 'utf8')));
const iptables = (name: string) => judgeIptablesSave(readFileSync(join(dir, `${name}.save`), 'utf8'));

describe('nftables', () => {
  it('finds a rule that drops VRRP, with the chain, the rule handle and the interface', () => {
    const verdict = nft('vrrp-drop-rule');
    expect(verdict.dropped).toBe(true);
    if (!verdict.dropped) return;
    expect(verdict.where).toMatch(/^nftables inet filter chain input \(hook input\): rule handle \d+ drops VRRP on eth0$/);
    expect(verdict.fix).toBe('nft insert rule inet filter input meta l4proto vrrp accept');
  });

  it('finds a drop policy that nothing lets VRRP through (established/related and TCP ports do not match VRRP)', () => {
    const verdict = nft('policy-drop');
    expect(verdict).toMatchObject({ dropped: true, where: 'nftables inet filter chain input (hook input): policy drop, and no rule accepts VRRP' });
  });

  it('finds VRRP dropped on its way out', () => {
    const verdict = nft('output-drop');
    expect(verdict.dropped && verdict.where).toMatch(/chain output \(hook output\): rule handle \d+ drops VRRP on eth1/);
  });

  it('accepts a drop policy with an accept for protocol vrrp before it', () => {
    expect(nft('policy-drop-vrrp-accepted')).toEqual({ dropped: false });
  });

  it('says nothing when a rule it cannot evaluate might accept VRRP', () => {
    expect(nft('policy-drop-unclear')).toEqual({ dropped: false });
  });

  it('lets an earlier accept of protocol 112 win over a later drop of everything on the interface', () => {
    expect(nft('accept-then-drop-all')).toEqual({ dropped: false });
  });

  it('ignores IPv6-only tables and negated matches', () => {
    expect(nft('ipv6-only-drop')).toEqual({ dropped: false });
  });

  it('refuses what is not nft JSON', () => {
    expect(() => judgeNftRuleset({ tables: [] })).toThrow(/nft -j list ruleset/);
  });
});

describe('iptables-legacy', () => {
  it('finds a rule that drops protocol vrrp', () => {
    const verdict = iptables('vrrp-drop');
    expect(verdict).toMatchObject({ dropped: true, fix: 'iptables-legacy -I INPUT -p vrrp -j ACCEPT' });
    expect(verdict.dropped && verdict.where).toMatch(/^iptables-legacy filter chain INPUT: rule 1 \(-A INPUT -i eth0 -p vrrp -j DROP\) drops VRRP on eth0$/);
  });

  it('finds a DROP policy that nothing lets VRRP through', () => {
    expect(iptables('policy-drop')).toMatchObject({ dropped: true, where: 'iptables-legacy filter chain INPUT: policy drop, and no rule accepts VRRP' });
  });

  it('accepts a DROP policy with an ACCEPT for protocol 112, comment and all', () => {
    expect(iptables('policy-drop-vrrp-accepted')).toEqual({ dropped: false });
  });
});
