import time, mlx.core as mx
def t(f, n=10):
    f(); mx.synchronize()
    s = time.perf_counter()
    for _ in range(n): f()
    mx.synchronize(); return (time.perf_counter() - s) / n * 1e3
B, T, cap, H, hd = 32, 730, 768, 32, 96
def qw(n, k):
    w = mx.random.normal((n, k)).astype(mx.float16); return mx.quantize(w, 64, 4)
W = {"qkv": qw(9216, 3072), "o": qw(3072, 3072), "gate_up": qw(16384, 3072), "down": qw(3072, 8192)}
x = mx.random.normal((B, 3072)).astype(mx.float16)
xin = {"qkv": x, "o": x, "gate_up": x, "down": mx.random.normal((B, 8192)).astype(mx.float16)}
for name, (wq, sc, bi) in W.items():
    f = lambda: mx.eval([mx.quantized_matmul(xin[name] + i, wq, sc, bi, True, 64, 4) for i in range(32)])
    print(f"{name} x32 layers: {t(f):.3f} ms")
arenas = [mx.zeros((B, H, cap, hd), mx.float16) for _ in range(8)]; mx.eval(arenas)
knew = mx.random.normal((B, H, 1, hd)).astype(mx.float16)
def su():
    global arenas
    arenas = [mx.slice_update(a, knew, mx.array([0, 0, T - 1, 0]), [0, 1, 2, 3]) for a in arenas]
    mx.eval(arenas)
print(f"slice_update 8 arenas of {B*H*cap*hd*2/1e6:.0f} MB: {t(su):.3f} ms (x8 for 64)")
def su2():
    global arenas
    for i in range(len(arenas)):
        arenas[i][:, :, T - 1:T, :] = knew
    mx.eval(arenas)
print(f"setitem 8 arenas: {t(su2):.3f} ms")
q = mx.random.normal((B, H, 1, hd)).astype(mx.float16)
K = arenas[0][:, :, :T, :]
mask = (mx.arange(T)[None] >= (mx.arange(B) * 7)[:, None]).reshape(B, 1, 1, T)
f = lambda: mx.eval([mx.fast.scaled_dot_product_attention(q + i, K, K, scale=0.1, mask=mask) for i in range(32)])
print(f"sdpa mask x32: {t(f):.3f} ms")
f = lambda: mx.eval([mx.fast.scaled_dot_product_attention(q + i, K, K, scale=0.1) for i in range(32)])
print(f"sdpa nomask x32: {t(f):.3f} ms")
addm = mx.where(mask, mx.array(0, mx.float16), mx.array(-float("inf"), mx.float16))
f = lambda: mx.eval([mx.fast.scaled_dot_product_attention(q + i, K, K, scale=0.1, mask=addm) for i in range(32)])
print(f"sdpa additive mask x32: {t(f):.3f} ms")
def manual(i):
    s = (q + i) @ K.swapaxes(-1, -2) * 0.1
    s = mx.where(mask, s, mx.array(-float("inf"), s.dtype))
    return mx.softmax(s, axis=-1, precise=True) @ K
f = lambda: mx.eval([manual(i) for i in range(32)])
print(f"manual attention x32: {t(f):.3f} ms")
