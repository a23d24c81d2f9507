"""FPGA flow: board sizing, fit checks, bad input, and one real (small) build."""

import json
import re

import numpy as np
import pytest
from conftest import random_layers

import eie
from eie.config import HwConfig
from eie.hw.geometry import act_memory_shape, bias_in_act_memory
from eie.errors import EieError
from eie.gen.fpga import (BOARDS, LARGE_ARRAY_EBR, board_hw, capacity, check_fit, ebr_estimate,
                          ebr_per_pe, layer_fit, lut_estimate, median_build, model_fit,
                          parse_nextpnr_log, parse_yosys_stat, record_builds, synthesize)
from eie.main import main

NEXTPNR_LOG = """\
Info: Device utilisation:
Info: 	          TRELLIS_IO:     12/    365     3%
Info: 	                DCCA:      2/     56     3%
Info: 	              DP16KD:     15/    208     7%
Info: 	          MULT18X18D:      1/    156     0%
Info: 	          TRELLIS_FF:    900/  83640     1%
Info: 	        TRELLIS_COMB:   2500/  83640     2%
Info: Max frequency for clock '$glbnet$clk': 80.00 MHz (FAIL at 100.00 MHz)
Info: Max frequency for clock '$glbnet$clk': 104.17 MHz (PASS at 100.00 MHz)
"""


def test_parse_nextpnr_log():
    util, fmax = parse_nextpnr_log(NEXTPNR_LOG)
    assert util["DP16KD"] == (15, 208) and util["TRELLIS_COMB"] == (2500, 83640)
    assert fmax == {"$glbnet$clk": 104.17}      # the last (final) report wins


@pytest.mark.parametrize("n_pe", [1, 3, 8, 16, 20, 24, 28, 32])
def test_board_sizing_fits(n_pe):
    hw = board_hw("ulx3s-85f", n_pe)
    assert hw.n_pe == n_pe
    # Up to 16 PEs narrow only where 48 bits fail; above, at most
    # LARGE_ARRAY_EBR block RAMs and 36 bits first.
    assert hw.acc_width == (48 if n_pe <= 16 else 36)
    assert ebr_estimate(hw) <= (BOARDS["ulx3s-85f"].ebr if n_pe <= 16 else LARGE_ARRAY_EBR)
    # Every row can have a bias; where the bias shares the activations' block
    # RAM (above 16 PEs), the bias rows fill it.
    if bias_in_act_memory(hw):
        assert n_pe > 16 and hw.bias_depth == 512 - 2 * hw.act_depth
    else:
        assert hw.bias_depth == hw.act_depth
    check_fit("ulx3s-85f", hw)


def test_memories_scale_with_the_array():
    """At 32 PEs a PE takes 4 block RAMs: 2 for the sparse matrix, 1 each for the
    pointers (two read ports) and activations, whose 512 x 36 block also holds
    448 bias rows; its 32 rows of accumulators are LUT RAM.  16 PEs keep the
    block RAM configuration they routed with."""
    hw = board_hw("ulx3s-85f", 32)
    assert ebr_per_pe(hw) == 4 and ebr_estimate(hw) == LARGE_ARRAY_EBR
    assert (hw.spmat_words, hw.ptr_depth, hw.act_depth, hw.bias_depth, hw.acc_width) == \
        (512, 1024, 32, 448, 36)
    assert bias_in_act_memory(hw) and act_memory_shape(hw) == (512, 36)
    assert not bias_in_act_memory(HwConfig(**{**vars(hw), "act_depth": 16}))    # LUT RAM acts
    hw = board_hw("ulx3s-85f", 16)
    assert not bias_in_act_memory(hw)
    assert (hw.spmat_words, hw.ptr_depth, hw.act_depth, hw.acc_width) == (1024, 2048, 512, 48)
    with pytest.raises(eie.EieError, match="33 PEs do not fit.*4 block RAMs per PE, 132 in "
                                           "all; an array above 16 PEs may take 128"):
        board_hw("ulx3s-85f", 33)
    with pytest.raises(eie.EieError, match="64 PEs do not fit.*4 block RAMs per PE.*2 per PE"):
        board_hw("ulx3s-85f", 64)


def test_capacity_and_layer_fit():
    """What a bitstream holds, and which memory a layer overflows; the fit
    estimate agrees with the compiler on a random layer either side of the
    sparse-matrix limit."""
    assert capacity(board_hw("ulx3s-85f", 32)) == {
        "entries_per_pe": 4096, "entries": 131072, "columns": 1023, "rows_per_pe": 32,
        "rows": 1024, "bias_rows_per_pe": 448}
    hw = HwConfig(n_pe=32, spmat_words=512, ptr_depth=1024, act_depth=512, bias_depth=512,
                  acc_width=36)
    assert layer_fit(hw, 4096, 600, 0.1) == "pointers 4097 > 1024"
    assert layer_fit(hw, 512, 20000, 0.1) == "rows per PE 625 > 512"
    assert layer_fit(hw, 1000, 16000, 0.1).startswith("entries per PE ~")
    # A model's layers share the pointers, entries and bias rows.
    mlp = [(64, 256, 0.14), (256, 128, 0.07), (128, 10, 0.25)]
    assert model_fit(hw, mlp, bias=True) is None
    assert model_fit(hw, mlp * 3) == "pointers 1353 > 1024"
    assert model_fit(hw, [(64, 8192, 0.01)] * 3, bias=True) == "bias rows per PE 768 > 512"
    assert model_fit(hw, [(64, 8192, 0.01)] * 3) is None
    small = HwConfig(n_pe=4, spmat_words=64, ptr_depth=256, act_depth=64)
    rng = np.random.default_rng(5)
    for n_out, fits in ((64, True), (128, False)):
        w = rng.normal(size=(n_out, 200)) * (rng.random((n_out, 200)) < 0.1)
        assert (layer_fit(small, 200, n_out, 0.1) is None) == fits
        if fits:
            eie.compress([w], n_pe=4, spmat_words=64, ptr_depth=256, act_depth=64)
        else:
            with pytest.raises(eie.CapacityError):
                eie.compress([w], n_pe=4, spmat_words=64, ptr_depth=256, act_depth=64)


def test_median_of_seeds():
    builds = [{"n_pe": 4, "fmax_mhz": 120.0, "seed": 1}] + [
        {"n_pe": 8, "fmax_mhz": f, "seed": s} for s, f in ((1, 101.0), (2, 99.0), (3, 104.0))]
    best = median_build(builds)
    assert (best["n_pe"], best["fmax_mhz"], best["seed"]) == (8, 101.0, 1)
    assert best["seeds_mhz"] == {"1": 101.0, "2": 99.0, "3": 104.0}


def test_lut_fit_from_the_record(tmp_path, monkeypatch):
    """The LUT4 check extrapolates the recorded builds (a line through them) and
    names the resource."""
    record = tmp_path / "record.json"
    reports = [{"n_pe": n, "luts": 2000 + 3000 * n, "fmax_mhz": 100.0} for n in (1, 8, 16)]
    record_builds(reports, path=record, commit="x", date="d")
    hw = HwConfig(n_pe=30, spmat_words=256, ptr_depth=256, act_depth=64, bias_depth=64,
                  acc_width=36)
    assert lut_estimate(hw, path=record) == (92_000, 3000)
    monkeypatch.setattr("eie.gen.fpga.MEASURED", record)
    with pytest.raises(eie.EieError, match=r"30 PEs need about 92,000 LUT4 \(3,000 per PE"):
        check_fit("ulx3s-85f", hw)
    record_builds(reports[:1], path=record)
    assert lut_estimate(hw, path=record) is None           # one build draws no line


YOSYS_STAT = """\
=== top.eie.pe0.queue ===

        +----------Local Count, excluding submodules.
        |
      200 wires
      190 cells
       11   CCU2C
       90   LUT4
       11   TRELLIS_DPR16X4
       63   TRELLIS_FF

=== top.eie.pe0 ===

        3 cells
        3   LUT4
        1   $scopeinfo

=== design hierarchy ===

       94   LUT4
"""


def test_parse_yosys_stat():
    modules = parse_yosys_stat(YOSYS_STAT)
    assert modules == {"top.eie.pe0.queue": {"CCU2C": 11, "LUT4": 90, "TRELLIS_DPR16X4": 11,
                                             "TRELLIS_FF": 63},
                       "top.eie.pe0": {"LUT4": 3}}


def test_bad_input_one_line(tmp_path, capsys):
    assert main(["synth", "--board", "de10-nano", "--build-dir", str(tmp_path)]) == 1
    assert "unknown board 'de10-nano'" in capsys.readouterr().err
    assert main(["synth", "--board", "ulx3s-85f", "--pes", "500",
                 "--build-dir", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "500 PEs do not fit" in err and err.count("\n") == 1
    # A bundle whose memories exceed the device.
    rng = np.random.default_rng(0)
    w, b = random_layers(rng, [64, 32], density=0.5)
    bundle = eie.compress(w, b, n_pe=8, spmat_words=65536)
    bundle.save(tmp_path / "big")
    assert main(["synth", "--board", "ulx3s-85f", "--bundle", str(tmp_path / "big"),
                 "--build-dir", str(tmp_path / "d")]) == 1
    assert "larger than the on-chip memories" in capsys.readouterr().err
    with pytest.raises(EieError, match="unknown nextpnr placer 'sa': choose heap or static"):
        synthesize("ulx3s-85f", board_hw("ulx3s-85f", 1), tmp_path / "p", placer="sa")


def test_small_build(tmp_path):
    """A 1-PE configuration through Yosys, nextpnr and ecppack (keeps the flow alive)."""
    hw = HwConfig(n_pe=1, spmat_words=512, ptr_depth=256, act_depth=64, bias_depth=64)
    report = synthesize("ulx3s-85f", hw, tmp_path / "build", freq_mhz=50)
    assert report["fmax_mhz"] > 0 and (report["placer"], report["router"]) == ("heap", "router1")
    assert report["luts"] > 100 and report["ebr"] >= 1 and report["mult18"] >= 1
    assert (tmp_path / "build" / "eie_top.bit").stat().st_size > 100_000
    json.dumps(report)
    # The reset goes out on a global network of its own (the board's DCCA),
    # not through the fabric.
    log = (tmp_path / "build" / "eie_top.tim").read_text()
    globals_ = re.findall(r"routing clock net (\S+) using global", log)
    assert len(globals_) == 2 and any("rst" in net for net in globals_), globals_


def test_constraints_file_matches_the_board():
    from pathlib import Path

    from amaranth_boards.ulx3s import ULX3S_85F_Platform

    lpf = (Path(__file__).parent.parent / "constraints" / "ulx3s-85f.lpf").read_text()
    platform = ULX3S_85F_Platform()
    want = {"clk25": ("clk25", 0, None), "uart_rx": ("uart", 0, "rx"),
            "uart_tx": ("uart", 0, "tx")}
    want.update({f"led[{k}]": ("led", k, None) for k in range(8)})
    for port, (name, number, sub) in want.items():
        resource = platform.lookup(name, number)
        ios = resource.ios
        if sub is not None:
            ios = next(io for io in ios if io.name == sub).ios
        site = ios[0].names[0]
        assert f'LOCATE COMP "{port}" SITE "{site}";' in lpf, port
