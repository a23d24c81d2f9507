"""Formal proofs (k-induction) of the LNZD tree and of the queue's backpressure.

Each proof is paired with a mutant (a wrong property or a broken protocol) that
must fail, so the proofs are not vacuous.
"""

import pytest
from amaranth.hdl import Assert, Assume, Module, Signal
from formal import prove, tools_available

from eie.hw.act_queue import ActQueue
from eie.hw.lnzd import LnzdTree

pytestmark = pytest.mark.skipif(not tools_available(), reason="yowasp-sby/boolector missing")


def lnzd_harness(n, mutant=False):
    """The tree's output equals the lowest valid leaf of ``latency`` cycles ago."""
    m = Module()
    m.submodules.dut = dut = LnzdTree(n, value_width=4, tag_width=3)
    index = Signal(8)
    value = Signal(4)
    for k in reversed(range(n)):          # independent priority encoder
        with m.If(dut.valid[k]):
            m.d.comb += [index.eq(k + (1 if mutant and k == n - 1 else 0)),
                         value.eq(dut.value[k])]
    stage = (dut.valid.any(), index, value, dut.tag)
    for _ in range(dut.latency):
        regs = (Signal(), Signal(8), Signal(4), Signal(3))
        m.d.sync += [r.eq(s) for r, s in zip(regs, stage)]
        stage = regs
    valid, index_d, value_d, tag_d = stage
    m.d.comb += [Assert(dut.out_valid == valid), Assert(dut.out_tag == tag_d)]
    with m.If(valid):
        m.d.comb += [Assert(dut.out_index == index_d), Assert(dut.out_value == value_d)]
    return m, [dut.valid, dut.value.as_value(), dut.tag], dut.latency + 2


def queue_harness(credits, mutant=False):
    """Credit protocol: fire only with credit, push only fired items, some of
    them dropped (empty columns).  Then the queue never overflows and its count
    is exactly stored + in flight."""
    m = Module()
    m.submodules.dut = dut = ActQueue(4, credits)
    fire, push, drop, pop, data = Signal(), Signal(), Signal(), Signal(), Signal(4)
    in_flight = Signal(range(credits + 4))
    m.d.comb += [dut.fire.eq(fire), dut.w_en.eq(push), dut.r_en.eq(pop), dut.w_data.eq(data),
                 dut.drop.eq(drop)]
    if not mutant:
        m.d.comb += Assume(~fire | dut.has_credit)
    m.d.comb += Assume(~push | (in_flight != 0))
    m.d.sync += in_flight.eq(in_flight + fire - push)
    m.d.comb += [
        Assert(dut.count == dut.level + in_flight),
        Assert(dut.count <= credits),
        Assert(~push | (dut.level < credits)),          # never pushed when full
        Assert(dut.r_rdy == (dut.level != 0)),
        Assert(dut.idle == (dut.count == 0)),
        # The spare register holds an item only while the memory is full.
        Assert(~dut.spare_valid | (dut.stored == dut.slots)),
        # The flag registers follow the count of stored items, which never
        # exceeds the memory.
        Assert(dut.stored <= dut.slots),
        Assert(dut.stored_zero == (dut.stored == 0)),
        Assert(dut.stored_full == (dut.stored == dut.slots)),
    ]
    return m, [fire, push, drop, pop, data], 4


def assert_proof_holds(harness, param, workdir):
    """The property proves, and its mutant does not."""
    ok, log = prove(*harness(param), workdir / "proof")
    assert ok, log[-3000:]
    ok, _ = prove(*harness(param, mutant=True), workdir / "mutant")
    assert not ok, "the mutant passed: the proof is vacuous"


@pytest.mark.parametrize("n", [5, 16, 64])
def test_lnzd_selects_lowest_nonzero(tmp_path, n):
    assert_proof_holds(lnzd_harness, n, tmp_path)


@pytest.mark.parametrize("credits", [1, 4, 5, 15, 18])
def test_queue_never_overflows(tmp_path, credits):
    assert_proof_holds(queue_harness, credits, tmp_path)
