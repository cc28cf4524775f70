"""Pseudonymisation of the submitting addresses at finalization: the flags of
SCORING.md keep working on the pseudonyms, nobody can map them back."""
from __future__ import annotations

import ipaddress
import random
import secrets
from collections.abc import Sequence

from sqlalchemy import delete, func, select, update

from survey.extensions import db
from survey.models import Ballot, BallotDraft, Campaign, Invitation

#: Ballots whose source is rewritten per statement (an executemany) at finalization.
REWRITE_CHUNK = 10000


def pseudonymise(sources: Sequence[str | None], rng: random.Random) -> list[str | None]:
    """Replace submitting addresses by pseudonyms that keep what SCORING.md's
    flags use: equal sources stay equal, different ones stay different, and
    two IPv4 addresses share a pseudonymous /24 exactly when they shared a
    /24 (IPv6: a /64). Pseudonyms are addresses again (IPv4 in 10.0.0.0/8,
    IPv6 in fd00::/8), so the flags and results computed on them are those
    computed on the originals. A source that is not an IP address becomes
    an opaque label, never an address. None stays None.

    The assignment is drawn from ``rng`` and depends on nothing else: with a
    discarded random seed, the pseudonyms say nothing about the addresses.
    (:class:`Pseudonymiser` does the same a source at a time.)
    """
    mapper = Pseudonymiser(rng)
    return [mapper(source) for source in sources]


class Pseudonymiser:
    """:func:`pseudonymise` one source at a time: every source given to one
    instance is mapped consistently with the others, so a million ballots
    can be rewritten chunk by chunk without holding them all."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.v4_nets: dict[int, int] = {}
        #: Per /24, its hosts' permutation (byte h is host h's pseudonymous host).
        self.v4_hosts: dict[int, bytes] = {}
        self.v6_nets: dict[int, int] = {}
        self.v6_hosts: dict[int, dict[int, int]] = {}
        self.others: dict[str, str] = {}
        self.used_v4_nets: set[int] = set()
        self.used_v6_nets: set[int] = set()
        self.used_labels: set[int] = set()

    def _fresh(self, used: set[int], bits: int) -> int:
        while True:
            value = self.rng.getrandbits(bits)
            if value not in used:
                used.add(value)
                return value

    def __call__(self, source: str | None) -> str | None:
        if source is None:
            return None
        try:
            address = ipaddress.ip_address(source.strip())
        except ValueError:
            if source not in self.others:
                self.others[source] = "anon-" + format(self._fresh(self.used_labels, 64), "016x")
            return self.others[source]
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        value = int(address)
        if address.version == 4:
            net, host = value >> 8, value & 0xFF
            if net not in self.v4_nets:
                if len(self.used_v4_nets) >= 1 << 16:
                    raise ValueError("more than 65536 distinct /24 networks to pseudonymise")
                self.v4_nets[net] = self._fresh(self.used_v4_nets, 16)
                self.v4_hosts[net] = bytes(self.rng.sample(range(256), 256))
            pseudo = (10 << 24) | (self.v4_nets[net] << 8) | self.v4_hosts[net][host]
            return str(ipaddress.IPv4Address(pseudo))
        net, host = value >> 64, value & ((1 << 64) - 1)
        if net not in self.v6_nets:
            self.v6_nets[net] = self._fresh(self.used_v6_nets, 56)
            self.v6_hosts[net] = {}
        hosts = self.v6_hosts[net]
        if host not in hosts:
            hosts[host] = self._fresh(set(hosts.values()), 64)
        pseudo = (0xFD << 120) | (self.v6_nets[net] << 64) | hosts[host]
        return str(ipaddress.IPv6Address(pseudo))


def pseudonymise_sources(campaign: Campaign) -> int:
    """At finalization: replace every ballot's source by its pseudonym, delete
    the drafts nobody submitted, and rewrite the campaign's invitation rows.
    Returns the number of ballots rewritten. The caller (the committee's
    finalization) commits, so this happens with the rest of it or not at all.

    The pseudonyms come from a system random source that is not kept, so
    nobody can map them back, not even with this code. Rewriting every
    ballot and invitation row in one transaction also gives them all the
    same PostgreSQL transaction id (xmin), which until then tied each
    ballot to the invitation claimed in its transaction.
    """
    # Ids and sources only, read and written back in chunks by primary key: a
    # campaign of a million ballots is never held whole, as objects or as rows
    # (issue #15). One Pseudonymiser maps every chunk, so equal sources stay equal.
    # (A ballot without a source keeps none: only those with one are read.)
    n_ballots = db.session.scalar(select(func.count()).select_from(Ballot).where(Ballot.campaign_id == campaign.id))
    mapper = Pseudonymiser(secrets.SystemRandom())
    after = 0
    while True:
        rows = db.session.execute(
            select(Ballot.id, Ballot.source).where(Ballot.campaign_id == campaign.id, Ballot.source.is_not(None),
                                                   Ballot.id > after)
            .order_by(Ballot.id).limit(REWRITE_CHUNK)).all()
        if not rows:
            break
        changed = [{"id": bid, "source": pseudonym} for bid, source in rows
                   if (pseudonym := mapper(source)) != source]
        if changed:
            db.session.execute(update(Ballot), changed)
        after = rows[-1][0]
        del rows, changed
    for obj in list(db.session.identity_map.values()):  # ballots this session holds: read afresh
        if isinstance(obj, Ballot):
            db.session.expire(obj, ["source"])
    db.session.execute(delete(BallotDraft).where(BallotDraft.campaign_id == campaign.id))
    # SQLite: the ballots whose invitations are not yet marked used are marked
    # here, in the one commit that rewrites every invitation row anyway.
    from survey.ballots.submission import mark_pending_in_session

    pending = mark_pending_in_session(campaign.id)
    db.session.execute(
        update(Invitation).where(Invitation.campaign_id == campaign.id)
        .values(used=Invitation.used | Invitation.id.in_(pending) if pending else Invitation.used)
        .execution_options(synchronize_session=False))
    # Touch every ballot row too, with a source or without, for the transaction id.
    db.session.execute(
        update(Ballot).where(Ballot.campaign_id == campaign.id)
        .values(position=Ballot.position).execution_options(synchronize_session=False))
    db.session.flush()
    return n_ballots or 0
