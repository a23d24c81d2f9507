"""A PE's activation queue with credit-based backpressure.

The broadcast of an activation is a promise that every PE will store it: an
item *fired* at cycle ``t`` reaches the queue a fixed number of cycles later
(``bcast_latency + 4``).  Each queue therefore counts *credits in use*: items
fired and not yet popped.  The broadcast fires only while every queue had a
count below ``credits`` a cycle ago (counting what fired then): the credit of
a pop reaches the broadcast two cycles later, through a register in the queue
and one after the AND over the array, and never from the pop itself, which
is decided late in the PE.  The queue holds ``credits`` items, so it cannot
overflow whatever is in flight.  ``fifo_depth`` of DESIGN.md is ``credits``
minus the broadcast pipeline and the credit's return (see
``docs/architecture.md``).
"""

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

__all__ = ["ActQueue"]


class ActQueue(wiring.Component):
    """First-word-fall-through queue of ``credits`` items with a credit counter.

    Parameters
    ----------
    shape : ShapeCastable
        Shape of an item (e.g. a ``StructLayout`` of value, start and length).
    credits : int
        Physical depth, and the most items that may be fired and not popped.

    Members
    -------
    fire : In(1)
        An item was broadcast this cycle (it will be pushed later).
    has_credit : Out(1)
        A register: the count of the cycle before, plus that cycle's fire, was
        below ``credits``.  This queue lets the broadcast fire.
    credit_if_fire, credit_if_hold : Out(1)
        ``has_credit`` of the next cycle if an item fires this cycle, and if none
        does: compares of the count register alone.  The array registers their
        AND over every PE and picks one with the registered ``fire``: the AND of
        ``has_credit``, with no pop on the path across the array.
    idle : Out(1)
        No item is fired and not popped.
    w_en, w_data : In
        An item arrives (one cycle after the pointer read).  Only items that
        were fired.
    drop : In(1)
        With ``w_en``: the item is not kept (its column is empty in this PE),
        and its credit comes back now, as a pop would return it.  Ignored
        without ``w_en``.  Only the queue's counters and valid bit depend on
        it: the head register and the memory take the item whether it is kept
        or not, so their enables do not wait for the pointer compare.
    r_rdy, r_data : Out
        Head of the queue, visible the cycle after its push.
    r_en : In(1)
        Pop the head (ignored when ``r_rdy`` is low).
    count, level : Out
        Items fired and not popped; items stored.
    stored, spare_valid : Out
        Items in the memory behind the head; the spare register holds one
        (only where ``credits - 1`` exceeds the memory's power-of-two depth).
    stored_zero, stored_full : Out(1)
        Registers equal to ``stored == 0`` and ``stored == slots`` (for the
        formal proof: the queue's gates use them in place of the compares).

    A push at cycle ``c`` is at the head at ``c + 1`` if the queue was empty.
    One push and one pop per cycle.
    """

    def __init__(self, shape, credits):
        if not isinstance(credits, int) or credits < 1:
            raise ValueError(f"credits must be a positive integer, not {credits!r}")
        self._shape = shape
        self._credits = credits
        count_width = credits.bit_length()
        # Slots of the memory behind the head: a power of two (see elaborate).
        # The head register holds one item, the memory the others; where the
        # memory would have to double for one item (credits - 1 = 2**k + 1,
        # e.g. 18 credits at 32 PEs), a spare register holds the youngest.
        self._slots = 1 << max(1, max(0, credits - 3).bit_length())
        self._spare = credits - 1 > self._slots
        super().__init__({
            "fire": In(1),
            "has_credit": Out(1),
            "credit_if_fire": Out(1),
            "credit_if_hold": Out(1),
            "idle": Out(1),
            "w_en": In(1),
            "w_data": In(shape),
            "drop": In(1),
            "r_rdy": Out(1),
            "r_data": Out(shape),
            "r_en": In(1),
            "count": Out(count_width),
            "level": Out(range(self._slots + 3)),
            "stored": Out(range(self._slots + 1)),
            "spare_valid": Out(1),
            "stored_zero": Out(1),
            "stored_full": Out(1),
        })

    @property
    def credits(self):
        return self._credits

    @property
    def slots(self):
        """Depth of the memory behind the head."""
        return self._slots

    def elaborate(self, platform):
        m = Module()
        has_credit = Signal(init=1)
        m.d.sync += has_credit.eq(Mux(self.fire, self.credit_if_fire, self.credit_if_hold))
        m.d.comb += self.has_credit.eq(has_credit)
        # The head is a register (the sparse-matrix reader's issue logic starts
        # from it); the items behind it wait in a small memory.  A push into an
        # empty queue, or into a queue whose only item is being popped, goes
        # straight to the head, so the head is still visible the cycle after
        # its push.  The memory's depth is a power of two (the pointers wrap
        # by themselves) and ``stored`` counts up to it: with 15 credits and a
        # 4-bit ``stored``, Yosys and ABC turned the head's refill into a
        # multiplexer tree per bit (434 LUT4 and 150 L6MUX21 instead of 96
        # LUT4 and 5 L6MUX21, measured on the queue alone).
        slots = self._slots
        m.submodules.storage = storage = Memory(shape=self._shape, depth=slots, init=[])
        wp = storage.write_port()
        rp = storage.read_port(domain="comb")

        w_ptr = Signal(range(slots))
        r_ptr = Signal(range(slots))
        stored = Signal(range(slots + 1))
        # ``stored == 0`` and ``stored == slots`` are registers of their own,
        # set with ``stored``: the late pop and drop meet them one LUT level
        # earlier than a compare of ``stored`` (the 32-PE path at e1b45ac ran
        # from ``stored`` through its compares and the drop into ``w_ptr``'s
        # enable and back into ``stored``).
        stored_zero = Signal(init=1)
        stored_full = Signal()
        head = Signal(self._shape)
        head_valid = Signal()

        def incr(ptr):
            return (ptr + 1)[:len(ptr)]

        do_pop = Signal()
        head_free = Signal()
        to_storage = Signal()
        dropped = Signal()
        spare = Signal(self._shape)
        spare_valid = Signal()
        m.d.comb += [
            self.r_rdy.eq(head_valid),
            self.r_data.eq(head),
            do_pop.eq(self.r_en & head_valid),
            rp.addr.eq(r_ptr),
            wp.addr.eq(w_ptr),
            # An arriving item goes to the head if the head is (or becomes)
            # free with nothing stored, else behind it.  An item that is
            # dropped is written all the same (to the free slot at ``w_ptr``,
            # which then does not move on): the enables of the memory and of
            # the head's register do not depend on ``drop``, the pointer
            # reader's late compare.
            head_free.eq(~head_valid | (do_pop & stored_zero)),
            to_storage.eq(self.w_en & ~head_free),
            dropped.eq(self.w_en & self.drop),
            # The count never exceeds ``credits``: a fire needs count + fire of
            # the cycle before below ``credits``, and the count has not grown
            # since by more than that fire.
            self.credit_if_fire.eq(self.count < self._credits - 1),
            self.credit_if_hold.eq(self.count < self._credits),
            self.idle.eq(self.count == 0),
            self.level.eq(head_valid + stored + spare_valid),
            self.stored.eq(stored),
            self.spare_valid.eq(spare_valid),
            self.stored_zero.eq(stored_zero),
            self.stored_full.eq(stored_full),
        ]
        refill = do_pop & ~stored_zero
        # What goes into the memory this cycle, and whether it is kept (moves
        # ``w_ptr`` on).
        write = Signal()
        write_kept = Signal()
        if self._spare:
            # The spare register holds the youngest item while the memory is
            # full; it moves into the memory as soon as a slot is free (the
            # refill frees one in the same cycle).  With the spare in use every
            # credit is in the queue, so no item arrives.  The spare's enable,
            # like the memory's, does not depend on ``drop``.
            room = Signal()
            m.d.comb += [
                room.eq(~stored_full | refill),
                write.eq(Mux(spare_valid, room, to_storage & room)),
                write_kept.eq(Mux(spare_valid, room, to_storage & room & ~self.drop)),
                wp.data.eq(Mux(spare_valid, spare, self.w_data)),
            ]
            with m.If(~spare_valid & to_storage & ~room):
                m.d.sync += [spare.eq(self.w_data), spare_valid.eq(~self.drop)]
            with m.Elif(spare_valid & room):
                m.d.sync += spare_valid.eq(0)
        else:
            m.d.comb += [
                write.eq(to_storage),
                write_kept.eq(to_storage & ~self.drop),
                wp.data.eq(self.w_data),
            ]
        m.d.comb += wp.en.eq(write)
        with m.If(write_kept):
            m.d.sync += w_ptr.eq(incr(w_ptr))
        with m.If(refill):
            m.d.sync += [head.eq(rp.data), r_ptr.eq(incr(r_ptr))]
        with m.Elif(self.w_en & head_free):
            m.d.sync += head.eq(self.w_data)
        m.d.sync += head_valid.eq(refill | (self.w_en & head_free & ~self.drop)
                                  | (head_valid & ~do_pop))
        # ``refill`` and ``write_kept`` come late (the pop is decided in the
        # sparse-matrix reader, which may sit by its block RAMs): they pick
        # one of three values worked out from ``stored`` alone.
        stored_up = Signal.like(stored)
        stored_down = Signal.like(stored)
        m.d.comb += [stored_up.eq(stored + 1), stored_down.eq(stored - 1)]
        with m.If(write_kept & ~refill):
            m.d.sync += [stored.eq(stored_up), stored_zero.eq(0),
                         stored_full.eq(stored == slots - 1)]
        with m.Elif(refill & ~write_kept):
            m.d.sync += [stored.eq(stored_down), stored_zero.eq(stored == 1),
                         stored_full.eq(0)]
        # The drop (from the pointer read), the pop (from the sparse-matrix
        # reader) and the fire (from the broadcast, across the array) come
        # late: they pick one of the sums worked out from the count alone,
        # rather than feeding a carry chain.
        up = Signal.like(self.count)
        down = Signal.like(self.count)
        down2 = Signal.like(self.count)
        m.d.comb += [up.eq(self.count + 1), down.eq(self.count - 1), down2.eq(self.count - 2)]
        # (A Switch over the three, with the count kept by default, made Yosys
        # and ABC build a multiplexer tree: 156 LUT4 and 63 PFUMX for the queue
        # at 8 PEs, against 91 and 5 with these two levels of Mux.)
        one, two = do_pop | dropped, do_pop & dropped
        m.d.sync += self.count.eq(Mux(self.fire, Mux(one, Mux(two, down, self.count), up),
                                      Mux(one, Mux(two, down2, down), self.count)))
        return m
