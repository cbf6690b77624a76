"""bench/gpu/kernel_sass.py's reading of SASS: which backward branch closes a kernel's largest
loop (not a slow path's jump back from past the kernel's end), and opcodes under predicates."""
import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def load_tool():
    spec = importlib.util.spec_from_file_location("kernel_sass", ROOT / "bench" / "gpu" / "kernel_sass.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_opcode_ignores_predicate_and_modifiers():
    tool = load_tool()
    assert tool.opcode("@!P0 LDG.E.EF.128 R12, desc[UR8][R76.64]") == "LDG"
    assert tool.opcode("IDP.4A.U8.S8 R28, R3, R4, RZ") == "IDP"


def test_largest_loop_is_the_loop_not_a_slow_paths_jump_back():
    tool = load_tool()
    ins = [
        "S2R R0, SR_TID.X",                # 0
        "BRA.DIV UR4, `(.L_x_9)",          # 1: a divergent shuffle's slow path, out of line
        "IADD3 R1, R0, 0x1, RZ",           # 2: .L_x_2, where the slow path comes back
        "LDG.E.128 R4, desc[UR8][R2.64]",  # 3: .L_x_1, the loop
        "IDP.4A.U8.S8 R8, R4, R5, R8",     # 4
        "@P1 EXIT",                        # 5: a predicated exit inside the loop
        "@!P0 BRA `(.L_x_1)",              # 6: the loop's back edge
        "EXIT",                            # 7: the kernel's end
        "SHFL.BFLY PT, R3, R1, 0x1, 0x1f",  # 8: .L_x_9
        "BRA `(.L_x_2)",                   # 9: back into the kernel: spans the EXIT, not a loop
    ]
    labels = {".L_x_2": 2, ".L_x_1": 3, ".L_x_9": 8}
    assert tool.largest_loop(ins, labels) == (3, 6)


def test_a_jump_back_over_an_unconditional_branch_is_no_loop():
    tool = load_tool()
    ins = [
        "MOV R0, RZ",          # 0: .L_x_0
        "BRA `(.L_x_5)",       # 1: control leaves here and never falls through
        "FADD R1, R1, R0",     # 2: out-of-line block
        "@P0 BRA `(.L_x_0)",   # 3: back over the plain BRA: not a loop
        "EXIT",                # 4
        "EXIT",                # 5: .L_x_5
    ]
    assert tool.largest_loop(ins, {".L_x_0": 0, ".L_x_5": 5}) is None
