"""Independent references written from DESIGN.md and docs/architecture.md.

Plain Python, one element at a time, sharing no code with the package: a
bundle reader, a golden model, and a cycle-by-cycle state machine of the
microarchitecture.  The package's vectorized implementations are tested
against these.
"""

import json
import os

import numpy as np


# -- bundle reader and golden model (DESIGN.md sections 2-4) --------------------------------

def read_bundle(path):
    """Decode a bundle into per-layer dicts with a dense integer weight matrix (user order)."""
    with open(os.path.join(path, "manifest.json")) as f:
        man = json.load(f)
    n_pe = man["hw"]["n_pe"]
    spmat = []
    ptrs = []
    for k in range(n_pe):
        with open(os.path.join(path, f"spmat_pe{k}.hex")) as f:
            spmat.append([int(line, 16) for line in f.read().split()])
        with open(os.path.join(path, f"ptr_pe{k}.hex")) as f:
            ptrs.append([int(line, 16) for line in f.read().split()])
    layers = []
    for spec in man["layers"]:
        n_in, n_out = spec["n_in"], spec["n_out"]
        w = [[0] * n_in for _ in range(n_out)]  # hardware row order
        for k in range(n_pe):
            ptr = ptrs[k][spec["ptr_base"]:spec["ptr_base"] + n_in + 1]
            for j in range(n_in):
                r = -1
                for e in range(ptr[j], ptr[j + 1]):
                    a = spec["spmat_base"] * 8 + e
                    byte = (spmat[k][a // 8] >> (8 * (a % 8))) & 0xFF
                    z, v = byte >> 4, byte & 0xF
                    r = r + z + 1
                    if v:
                        w[r * n_pe + k][j] = spec["codebook"][v]
        perm = spec["row_perm"]
        bias = [0] * n_out
        if spec["bias"] is not None:
            b = np.load(os.path.join(path, spec["bias"]))
            bias = [int(b[perm[r]] if perm else b[r]) for r in range(n_out)]
        layers.append(dict(spec, w=w, hw_bias=bias))
    return man, layers


def golden(layers, x_codes):
    """Output codes (user order) of one input vector of int codes."""
    a = list(x_codes)
    for spec in layers:
        s = spec["in_frac"] + spec["w_frac"] - spec["out_frac"]
        out = []
        for r in range(spec["n_out"]):
            acc = spec["hw_bias"][r] + sum(wv * av for wv, av in zip(spec["w"][r], a))
            y = (acc + (1 << (s - 1))) >> s if s > 0 else acc
            y = max(-32768, min(32767, y))
            if spec["relu"]:
                y = max(0, y)
            out.append(y)
        a = out
    perm = layers[-1]["row_perm"]
    if perm:
        y = [0] * len(a)
        for r, orig in enumerate(perm):
            y[orig] = a[r]
        a = y
    return a


# -- cycle-by-cycle state machine (docs/architecture.md) ------------------------------------

def simulate_layer(col_len, act, n_pe, n_out, timing):
    """Cycles of one layer, stepping the documented state machines one cycle at a time.

    ``col_len[k][j]`` are PE ``k``'s entries in column ``j``; ``act`` the input
    codes (hardware order); ``timing`` an :class:`eie.config.Timing`-like object.
    """
    n_in = len(act)
    n_rows = -(-n_in // n_pe)
    credits, qlat = timing.credits, timing.queue_latency

    # Reads are decided a cycle ahead; a row read at t is in the PEs' registers
    # at t + 2, in the scanner's at t + 3 and in the prefetch buffer (head: the
    # next row) from t + 4.
    prefetch = 5
    rd_issue, rd_addr = False, 0
    d1 = d2 = d3 = None  # rows read one, two and three cycles ago
    buf = []
    cur, mask = None, []
    scan_done = False
    count = [0] * n_pe   # fired, not popped (or dropped)
    credit = [True] * n_pe   # each PE's registered credit flag
    fifo = [[] for _ in range(n_pe)]   # (cycle at head, length)
    drops = [[] for _ in range(n_pe)]  # cycles at which empty columns are dropped
    remaining = [0] * n_pe
    last_issue = [None] * n_pe

    t = 0
    # The registered AND of the PEs' idle flags (and no fire), once, or twice
    # with a group register in between above 16 PEs (timing.idle_latency).
    was_idle = [True] * timing.idle_latency
    while True:
        # Control: compute phase over (on the PEs' idle flags of the cycle before)?
        idle = all(count[k] == 0 and remaining[k] == 0 and
                   (last_issue[k] is None or t >= last_issue[k] + timing.arith_drain)
                   for k in range(n_pe))
        if scan_done and was_idle[-1]:
            return t + 1 + -(-n_out // n_pe) + timing.writeback_latency

        q = buf[0] if buf else None
        # Emitter and broadcast.
        fire = bool(t > 0 and cur is not None and mask and all(credit))
        if fire:
            k_hit = mask[0]
            j = cur * n_pe + k_hit
            for k in range(n_pe):
                if col_len[k][j]:
                    fifo[k].append((t + qlat, col_len[k][j]))
                else:       # never pushed: dropped (its credit back) at its push
                    drops[k].append(t + qlat - 1)
        row_over = cur is not None and (not mask or (fire and len(mask) == 1))
        new_cur, new_mask = cur, (mask[1:] if fire else mask)
        load = t > 0 and ((cur is None and q is not None) or row_over)
        if t == 0:
            new_d1, new_d2, new_d3, new_buf = 0, None, None, []
            rd_addr, new_issue = 1, n_rows > 1
        else:
            pop = load and q is not None
            new_buf = buf[1:] if pop else list(buf)
            if d3 is not None:
                new_buf.append(d3)
            new_d1, new_d2, new_d3 = (rd_addr if rd_issue else None), d1, d2
            rd_addr += rd_issue
            new_issue = (len(new_buf) + (d1 is not None) + (d2 is not None) + rd_issue
                         < prefetch and rd_addr < n_rows)
        if load:
            if q is not None:
                new_cur = q
                new_mask = [k for k in range(n_pe)
                            if q * n_pe + k < n_in and act[q * n_pe + k] != 0]
            else:
                new_cur, new_mask = None, []
                scan_done = d1 is None and d2 is None and d3 is None and not rd_issue
        # PEs: the credit flag is registered from the count before this cycle's
        # pops and drops.
        credit = [count[k] + fire < credits for k in range(n_pe)]
        for k in range(n_pe):
            busy_col = remaining[k] > 0
            if busy_col:
                remaining[k] -= 1
                last_issue[k] = t
            if fifo[k] and fifo[k][0][0] <= t and not busy_col:
                remaining[k] = fifo[k].pop(0)[1] - 1
                last_issue[k] = t
                count[k] -= 1
            if drops[k] and drops[k][0] == t:
                drops[k].pop(0)
                count[k] -= 1
            if fire:
                count[k] += 1
        # Clock edge.
        was_idle = [idle and not fire] + [w and not fire for w in was_idle[:-1]]
        cur, mask = new_cur, new_mask
        d1, d2, d3, buf, rd_issue = new_d1, new_d2, new_d3, new_buf, new_issue
        t += 1
