"""Activation queue: FIFO order, one push and one pop per cycle, credit counting."""

import numpy as np
import pytest
from hw_helpers import run_sim

from eie.hw.act_queue import ActQueue


@pytest.mark.parametrize("credits,delay", [(1, 1), (3, 2), (7, 4), (13, 6)])
def test_queue_with_credit_protocol(credits, delay):
    # Items fire when has_credit is high and are pushed `delay` cycles later; the
    # consumer pops at random.  The queue must keep order, never lose or overflow.
    rng = np.random.default_rng(credits)
    dut = ActQueue(16, credits)
    popped, fired = [], []
    in_flight = []

    async def tb(ctx):
        n = 0
        predicted = True
        before = 0      # the count of the cycle before, plus its fire
        for t in range(400):
            has_credit = ctx.get(dut.has_credit)
            assert has_credit == (before < credits)
            # The array registers the prediction and picks it with the fire.
            assert has_credit == predicted
            assert ctx.get(dut.level) <= ctx.get(dut.count) <= credits
            fire = has_credit and rng.random() < 0.7
            ctx.set(dut.fire, fire)
            if fire:
                in_flight.append((t + delay, n))
                fired.append(n)
                n += 1
            push = in_flight and in_flight[0][0] == t
            ctx.set(dut.w_en, bool(push))
            if push:
                ctx.set(dut.w_data, in_flight.pop(0)[1])
            pop = rng.random() < 0.5
            ctx.set(dut.r_en, pop)
            await ctx.delay(1e-9)
            if pop and ctx.get(dut.r_rdy):
                popped.append(ctx.get(dut.r_data))
            predicted = ctx.get(dut.credit_if_fire if fire else dut.credit_if_hold)
            before = ctx.get(dut.count) + fire
            await ctx.tick()

    run_sim(dut, tb)
    assert len(popped) > 50
    assert popped == fired[:len(popped)]


def test_push_visible_next_cycle():
    dut = ActQueue(8, 4)

    async def tb(ctx):
        assert ctx.get(dut.idle) and not ctx.get(dut.r_rdy)
        ctx.set(dut.fire, 1)
        await ctx.tick()
        ctx.set(dut.fire, 0)
        assert not ctx.get(dut.idle) and not ctx.get(dut.r_rdy)
        ctx.set(dut.w_en, 1)
        ctx.set(dut.w_data, 42)
        await ctx.tick()
        ctx.set(dut.w_en, 0)
        assert ctx.get(dut.r_rdy) and ctx.get(dut.r_data) == 42
        ctx.set(dut.r_en, 1)
        await ctx.tick()
        assert ctx.get(dut.idle) and not ctx.get(dut.r_rdy)

    run_sim(dut, tb)
