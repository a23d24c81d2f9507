"""Activation queue: FIFO order, one push and one pop per cycle, credit counting."""

import numpy as np
import pytest
from hw_helpers import run_sim

from eie.hw.act_queue import ActQueue


@pytest.mark.parametrize("credits,delay,drops", [(1, 1, False), (3, 2, False), (7, 4, False),
                                                 (13, 6, False), (4, 2, True), (10, 5, True),
                                                 (18, 9, True), (18, 9, False)])
def test_queue_with_credit_protocol(credits, delay, drops):
    # Items fire when has_credit is high and arrive `delay` cycles later, some of
    # them dropped (empty columns); the consumer pops at random.  The queue must
    # keep order, never lose or overflow.  At 4, 10 and 18 credits a spare
    # register holds the item the power-of-two memory has no slot for.
    rng = np.random.default_rng(credits)
    dut = ActQueue(16, credits)
    assert (credits - 1 > dut.slots) == (credits in (4, 10, 18))
    kept = []
    spare_used = [0]
    popped = []
    in_flight = []

    async def tb(ctx):
        n = 0
        predicted = True
        before = 0      # the count of the cycle before, plus its fire
        for t in range(800 if drops else 400):
            has_credit = ctx.get(dut.has_credit)
            spare_used[0] += ctx.get(dut.spare_valid)
            assert has_credit == (before < credits)
            # The array registers the prediction and picks it with the fire.
            assert has_credit == predicted
            assert ctx.get(dut.level) <= ctx.get(dut.count) <= credits
            fire = has_credit and rng.random() < 0.7
            ctx.set(dut.fire, fire)
            if fire:
                in_flight.append((t + delay, n))
                n += 1
            push = in_flight and in_flight[0][0] == t
            ctx.set(dut.w_en, bool(push))
            drop = bool(push) and drops and rng.random() < 0.3
            ctx.set(dut.drop, drop)
            if push:
                item = in_flight.pop(0)[1]
                ctx.set(dut.w_data, item)
                if not drop:
                    kept.append(item)
            # With drops, the consumer stalls for long stretches, so the
            # queue fills to every credit (and uses its spare register).
            pop = rng.random() < ((0.02 if (t // 100) % 2 else 0.6) if drops else 0.5)
            ctx.set(dut.r_en, pop)
            await ctx.delay(1e-9)
            if pop and ctx.get(dut.r_rdy):
                popped.append(ctx.get(dut.r_data))
            predicted = ctx.get(dut.credit_if_fire if fire else dut.credit_if_hold)
            before = ctx.get(dut.count) + fire
            await ctx.tick()

    run_sim(dut, tb)
    assert len(popped) > 50
    assert popped == kept[:len(popped)]
    if drops:
        assert spare_used[0] > 0 if credits - 1 > dut.slots else spare_used[0] == 0


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
