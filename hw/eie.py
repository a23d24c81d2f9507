"""The EIE accelerator: PE array, scanner/LNZD broadcast, control and host port."""

import numpy as np
from amaranth.hdl import Module, Mux, Signal, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ..config import ACT_BITS, CODEBOOK_SIZE, HwConfig
from .codebook import LOAD_CYCLES, CodebookStore
from .control import Control
from .geometry import FANOUT_GROUP, FANOUT_GROUP_BITS, Geometry, HostMap, Region, flags_value
from .local_reg import local_register
from .pe import PE
from .scanner import Scanner, bcast_layout
from .spmat_reader import DECODE_DELAY

__all__ = ["EIE", "layer_table", "HOST_READ_LATENCY", "HOST_WRITE_LATENCY",
           "host_read_latency"]

#: Cycles from ``host_re`` to its data on ``host_rdata`` where the PEs'
#: copies of the host port take it straight from the port
#: (:func:`host_read_latency` for any array).
HOST_READ_LATENCY = 4
#: Cycles after the clock edge that takes a write until it has taken effect
#: (every destination registers the port first): ``busy`` rises this many
#: cycles after the edge that takes the write of ``start``.  A PE's memories
#: take ``Geometry.fanout_stages`` cycles more.
HOST_WRITE_LATENCY = 1


def host_read_latency(geometry):
    """Cycles from ``host_re`` to its data on ``host_rdata``: a large array's
    group registers (``Geometry.fanout_stages``) add theirs, on the way there
    and on the way back (its scanner groups register their choice)."""
    return HOST_READ_LATENCY + 2 * geometry.fanout_stages


def layer_table(bundle, geometry):
    """Layer table contents (per field, per layer) for a bundle."""
    n = bundle.n_pe
    bias_bases = bundle.bias_bases()
    table = {name: [] for name in Geometry.LAYER_FIELDS}
    for l, layer in enumerate(bundle.layers):
        table["n_in"].append(layer.n_in)
        table["rows_in"].append(-(-layer.n_in // n))
        table["rows_out"].append(-(-layer.n_out // n))
        table["ptr_base"].append(layer.ptr_base)
        table["spmat_base"].append(layer.spmat_base)
        table["bias_base"].append(bias_bases[l] or 0)
        table["flags"].append(flags_value(layer.relu, bias_bases[l] is not None, layer.shift))
    return table


def bias_image(bundle, pe):
    """PE ``pe``'s bias memory contents (local rows of the layers with a bias)."""
    words = []
    n = bundle.n_pe
    for layer in bundle.layers:
        if layer.bias is not None:
            b = layer.hw_bias()
            rows = -(-layer.n_out // n)
            local = np.zeros(rows, dtype=np.int64)
            mine = b[pe::n]
            local[:mine.size] = mine
            words.extend(int(v) for v in local)
    return words


class EIE(wiring.Component):
    """A complete EIE instance with a host port.

    Parameters
    ----------
    hw : eie.config.HwConfig
        Sizes of the PE array and its memories.
    max_layers : int
        Layers one run can chain (the layer table's depth).
    bundle : eie.gen.bundle.Bundle, optional
        Bake this model into the memories' initial contents (and the layer
        count into its reset value): the host then only loads inputs.  Without
        it the host loads the model through the port (:mod:`eie.sim.host`).

    Members
    -------
    host_addr : In(HostMap.addr_width)
        ``{region, pe, offset}`` (:class:`~eie.hw.geometry.HostMap`).
    host_wdata : In(64)
    host_we, host_re : In(1)
        Write this cycle (it takes effect :data:`HOST_WRITE_LATENCY` cycle
        later: the control registers and ``start``; a PE's memories
        ``fanout_stages`` later still); read (data in ``host_rdata``
        :func:`host_read_latency` cycles later: four, six above 16 PEs).
    host_rdata : Out(64)
    busy, done : Out(1)
        A run is in progress; the last run finished (cleared by the next start).

    The host may only touch memories while ``busy`` is low; writes to them
    while busy are dropped.
    """

    def __init__(self, hw, max_layers=None, bundle=None):
        if not isinstance(hw, HwConfig):
            raise TypeError(f"hw must be an HwConfig, not {hw!r}")
        if bundle is not None:
            if bundle.hw != hw:
                raise ValueError("the bundle was compiled for another hardware configuration")
            if max_layers is None:
                max_layers = len(bundle.layers)
            if len(bundle.layers) > max_layers:
                raise ValueError(f"the bundle has {len(bundle.layers)} layers, the layer "
                                 f"table holds {max_layers}")
            if bundle.bias_rows > hw.bias_depth:
                raise ValueError(f"the bundle needs {bundle.bias_rows} bias words per PE, "
                                 f"bias_depth is {hw.bias_depth}")
        self._g = Geometry(hw, 8 if max_layers is None else max_layers)
        self._bundle = bundle
        g = self._g
        super().__init__({
            "host_addr": In(g.host.addr_width),
            "host_wdata": In(64),
            "host_we": In(1),
            "host_re": In(1),
            "host_rdata": Out(64),
            "busy": Out(1),
            "done": Out(1),
        })

    @property
    def geometry(self):
        return self._g

    def _inits(self, pe):
        bundle = self._bundle
        if bundle is None:
            return {}
        return {
            "spmat_init": [int(w) for w in bundle.spmat_image(pe)],
            "ptr_init": [int(p) for p in bundle.ptr_image(pe)],
            "bias_init": bias_image(bundle, pe),
        }

    def _codebook_init(self):
        bundle = self._bundle
        if bundle is None:
            return None
        codebook = np.zeros(self._g.codebook_depth, dtype=np.int64)
        for l, layer in enumerate(bundle.layers):
            codebook[l * CODEBOOK_SIZE:(l + 1) * CODEBOOK_SIZE] = layer.codebook
        return [int(c) for c in codebook]

    def elaborate(self, platform):
        m = Module()
        g = self._g
        hmap = g.host
        n = g.n_pe
        bundle = self._bundle

        region = Signal(HostMap.REGION_BITS)
        pe_sel = Signal(hmap.pe_bits)
        offset = Signal(hmap.offset_bits)
        m.d.comb += [
            offset.eq(self.host_addr[:hmap.offset_bits]),
            pe_sel.eq(self.host_addr[hmap.offset_bits:hmap.offset_bits + hmap.pe_bits]),
            region.eq(self.host_addr[hmap.offset_bits + hmap.pe_bits:]),
        ]
        we = self.host_we & ~self.busy

        if bundle is None:
            m.submodules.control = control = Control(g)
        else:
            m.submodules.control = control = Control(
                g, table_init=layer_table(bundle, g), n_layers_init=len(bundle.layers))
        m.submodules.scanner = scanner = Scanner(g)
        m.submodules.codebook = store = CodebookStore(g, self._codebook_init())
        # The reload of a layer's codebook ends before its first decode (it
        # reaches the PEs through their registers, and the group registers).
        t = g.timing
        assert t.scan_start + t.queue_latency + DECODE_DELAY >= LOAD_CYCLES + g.fanout_stages
        m.d.comb += [
            self.busy.eq(control.busy),
            self.done.eq(control.done),
            control.host_we_ctrl.eq(self.host_we & (region == Region.CTRL)),
            control.host_we_layer.eq(we & (region == Region.LAYER)),
            control.host_offset.eq(offset),
            control.host_data.eq(self.host_wdata),
            scanner.layer_go.eq(control.layer_go),
            scanner.n_in.eq(control.layer.n_in),
            scanner.rows_in.eq(control.layer.rows_in),
            control.scan_done.eq(scanner.scan_done),
            store.layer_go.eq(control.layer_go),
            store.layer.eq(control.layer.index),
            store.host_we.eq(we & (region == Region.CODEBOOK)),
            store.host_addr.eq(offset),
            store.host_data.eq(self.host_wdata),
        ]
        credit_if_fire = 1
        credit_if_hold = 1
        all_idle = 1
        # The AND of every PE's idle flag is registered: the control unit ends
        # the compute phase a cycle after every PE is idle (and nothing fired;
        # two cycles above 16 PEs, Timing.idle_latency).
        all_idle_r = Signal(init=1)
        n_groups = -(-n // FANOUT_GROUP)
        group_idle = [1] * n_groups
        pes = []
        # What reaches every PE from the top: the host port (its strobes
        # with the region decoded, not yet the PE), the codebook reload, the
        # running layer's parameters and the broadcast.  (Expressions made
        # afresh for each user: up to 16 PEs the netlist is then the one of
        # the recorded builds before the group registers, bit for bit.)
        def strobes():
            return {
                "host_re_act": self.host_re & (region == Region.ACT),
                "host_we_act": we & (region == Region.ACT),
                "host_we_spmat": we & (region == Region.SPMAT),
                "host_we_ptr": we & (region == Region.PTR),
                "host_we_bias": we & (region == Region.BIAS),
            }

        def shared():
            return {
                "host_offset": offset,
                "host_data": self.host_wdata,
                "host_nz": self.host_wdata[:ACT_BITS] != 0,
                "cb_we": store.load_we,
                "cb_addr": store.load_addr,
                "cb_data": store.load_data,
                "layer": control.layer,
                "bcast": scanner.bcast_next,
            }

        strobe_names = set(strobes())
        groups = {}
        if g.fanout_stages:
            # A large array: each group of FANOUT_GROUP PEs has its own
            # register of all of it (a strobe for the group's PEs alone),
            # and its PEs take their copies from there, a cycle later.
            for gi in range(n_groups):
                ours = pe_sel[FANOUT_GROUP_BITS:] == gi
                values = {**{name: value & ours for name, value in strobes().items()},
                          "sel": pe_sel[:FANOUT_GROUP_BITS], **shared()}
                groups[gi] = {name: local_register(m, platform, value, value.shape(),
                                                   f"{name}_g{gi}")
                              for name, value in values.items()}
        for k in range(n):
            pe = PE(g, **self._inits(k))
            m.submodules[f"pe{k}"] = pe
            pes.append(pe)
            # The host port (strobes, address, write data) is registered in
            # front of each PE, a copy of its own (the PEs spread over the
            # device, and the write data goes to every block RAM of the PE):
            # its writes land a cycle later, and its reads take
            # HOST_READ_LATENCY = 4 cycles (a cycle more each above 16 PEs,
            # through the group registers).  So is the codebook reload.
            if g.fanout_stages:
                src = groups[k // FANOUT_GROUP]
                mine = src["sel"] == k % FANOUT_GROUP
            else:
                mine = pe_sel == k
                src = {**strobes(), **shared()}
            host_port = {name: value & mine if name in strobe_names else value
                         for name, value in src.items() if name not in ("sel", "layer", "bcast")}
            for name, value in host_port.items():
                port = getattr(pe, name)
                m.d.comb += port.eq(local_register(m, platform, value, port.shape(),
                                                   f"{name}{k}"))
            # The broadcast register is each PE's own copy, placed next to it:
            # the pointer address the PE works out from the column then
            # stays inside the PE.  Above 16 PEs it comes from the group's
            # register, which takes the place of the LNZD tree's root register.
            bcast = local_register(m, platform, src["bcast"], bcast_layout(g), f"bcast{k}")
            m.d.comb += [
                pe.bcast_valid.eq(bcast.valid),
                pe.bcast_value.eq(bcast.value),
                pe.bcast_col.eq(bcast.col),
                pe.fire.eq(scanner.fire),
                # The running layer's parameters are each PE's own registers
                # too: registers a PE derives from them (the output stage's
                # shift, the ReLU flag, the pointer reader's word base) are
                # otherwise the same in every PE, and Yosys merges them into
                # one that drives every PE across the device (the 16-PE
                # critical path at 7d0219c, 11.6 ns).  A cycle late is early
                # enough for all of them: the pointer read starts at cycle
                # ``bcast_latency`` of a layer and the writeback later; the
                # activation file's bank, read at cycle 0, comes directly.
                # Two cycles late (through a group register) is early enough
                # too: the first broadcast reaches a PE at cycle
                # scan_start + bcast_latency.
                pe.layer.eq(local_register(m, platform, src["layer"], g.layer_layout,
                                           f"layer{k}")),
                pe.layer.src.eq(control.layer.src),
                pe.scan_en.eq(scanner.scan_en),
                pe.scan_addr.eq(scanner.scan_addr),
                # The writeback's row drives the accumulator block RAMs'
                # addresses: each PE has registers of its own.
                pe.wb_valid.eq(local_register(m, platform, control.wb_valid_next, 1,
                                              f"wb_valid{k}")),
                pe.wb_row.eq(local_register(m, platform, control.wb_row_next,
                                            len(control.wb_row_next), f"wb_row{k}")),
                pe.host_mode.eq(~self.busy),
            ]
            credit_if_fire = credit_if_fire & pe.credit_if_fire
            credit_if_hold = credit_if_hold & pe.credit_if_hold
            if g.fanout_stages:
                # Above 16 PEs the AND of the idle flags is registered in each
                # group first (Timing.idle_latency): an AND over PEs spread
                # over the device was the 32-PE critical path (10.17 ns).
                group_idle[k // FANOUT_GROUP] = group_idle[k // FANOUT_GROUP] & pe.idle
            else:
                all_idle = all_idle & pe.idle
        # Every PE has a credit: the AND over the PEs is registered for both
        # outcomes of this cycle's fire, and the registered fire picks one, so
        # the broadcast's fire decision does not wait for the queues of every PE
        # (exactly ``AND(pe.has_credit)``, one register stage off the path).
        all_if_fire = Signal(init=1)
        all_if_hold = Signal(init=1)
        fired = Signal()
        if g.fanout_stages:
            # Idle and nothing fired two cycles before, and nothing fired since.
            for gi, flag in enumerate(group_idle):
                group_idle_r = Signal(init=1, name=f"idle_g{gi}")
                m.d.sync += group_idle_r.eq(flag & ~scanner.fire)
                all_idle = all_idle & group_idle_r
        m.d.sync += [
            all_if_fire.eq(credit_if_fire),
            all_if_hold.eq(credit_if_hold),
            fired.eq(scanner.fire),
            # Idle after this cycle: idle now, and no activation fired now.
            all_idle_r.eq(all_idle & ~scanner.fire),
        ]
        m.d.comb += [
            scanner.all_credit.eq(Mux(fired, all_if_fire, all_if_hold)),
            control.all_idle.eq(all_idle_r),
        ]

        # Each PE's activation file output comes from its block RAM's output
        # register (the PEs are spread over the device): the scanner reads
        # rows from these registers into its own (stage D3), and host reads
        # pick the PE from the scanner's, which sit together (data four cycles
        # after ``host_re``: the PE's host port register, the block RAM's two,
        # the scanner's; six with group registers, whose PE is picked in the
        # scanner's group next to it, into a register).  Picked from the PEs'
        # registers, the 16-way choice after a route across the device was
        # the critical path of 16 PEs.
        stages = range(host_read_latency(g))
        read_act = [Signal(name=f"read_act{i}") for i in stages]
        read_pe = [Signal(hmap.pe_bits, name=f"read_pe{i}") for i in stages]
        ctrl_data = [Signal(64, name=f"ctrl_data{i}") for i in stages]
        m.d.sync += [read_act[0].eq(region == Region.ACT), read_pe[0].eq(pe_sel),
                     ctrl_data[0].eq(control.ctrl_rdata)]
        for i in stages[1:]:
            m.d.sync += [read_act[i].eq(read_act[i - 1]), read_pe[i].eq(read_pe[i - 1]),
                         ctrl_data[i].eq(ctrl_data[i - 1])]
        act = Signal(signed(16))
        if g.fanout_stages:
            # The scanner's groups hold the D3 registers: each picks its PE,
            # and the scanner the group, a cycle later.
            for k in range(n):
                m.d.comb += [scanner.act_data[k].eq(pes[k].act_data),
                             scanner.act_nz[k].eq(pes[k].act_nz)]
            m.d.comb += [scanner.host_pe.eq(read_pe[-3]), act.eq(scanner.host_act)]
        else:
            with m.Switch(read_pe[-1]):
                for k in range(n):
                    m.d.comb += [scanner.act_data[k].eq(pes[k].act_data),
                                 scanner.act_nz[k].eq(pes[k].act_nz)]
                    with m.Case(k):
                        m.d.comb += act.eq(scanner.row_data[k])
                with m.Default():
                    m.d.comb += act.eq(0)
        m.d.comb += self.host_rdata.eq(Mux(read_act[-1], act.as_unsigned(), ctrl_data[-1]))
        return m



