#!/usr/bin/env python3
"""Known values for ReferenceNetworkTests.cs, computed independently of the C# code.

Run:  python3 tests/Microsoft.ML.Recurrent.Tests/Engine/known_values.py
Plain Python 3 (math module only, double precision). Every number printed here is pasted as a
literal into ReferenceNetworkTests.cs; rerun this script to reproduce them.

Equations (PyTorch conventions, architecture.md section 3):
  RNN  h' = tanh(W_ih x + b_ih + W_hh h + b_hh)
  LSTM gate blocks i, f, g, o:  c' = f*c + i*g,  h' = o*tanh(c')
  GRU  gate blocks r, z, n:     n = tanh(W_in x + b_in + r*(W_hn h + b_hn)),  h' = (1-z)*n + z*h
Losses: MSE and BCE-with-logits are means over every valid output element; softmax cross-entropy is
the mean over rows (or valid steps) of -log softmax(y)[class].
"""
import math


def pattern(n, seed):
    """Deterministic 'hand-picked' values in [-0.4, 0.4]; ReferenceNetworkTests.Pattern is the same formula."""
    return [((k * 7 + seed * 13) % 17 - 8) / 20.0 for k in range(n)]


def matrix(flat, rows, cols):
    assert len(flat) == rows * cols
    return [flat[r * cols:(r + 1) * cols] for r in range(rows)]


def matvec(m, v):
    return [sum(a * b for a, b in zip(row, v)) for row in m]


def add(*vs):
    return [sum(t) for t in zip(*vs)]


def sigmoid(x):
    return 1.0 / (1.0 + math.exp(-x))


class Cell:
    def __init__(self, kind, inp, hid, w_ih, w_hh, b_ih, b_hh):
        g = {"rnn": 1, "lstm": 4, "gru": 3}[kind]
        self.kind, self.h = kind, hid
        self.w_ih = matrix(w_ih, g * hid, inp)
        self.w_hh = matrix(w_hh, g * hid, hid)
        self.b_ih, self.b_hh = list(b_ih), list(b_hh)
        assert len(self.b_ih) == g * hid and len(self.b_hh) == g * hid

    def step(self, x, h, c):
        H = self.h
        gi = add(matvec(self.w_ih, x), self.b_ih)
        gh = add(matvec(self.w_hh, h), self.b_hh)
        if self.kind == "rnn":
            return [math.tanh(a + b) for a, b in zip(gi, gh)], c
        if self.kind == "lstm":
            s = add(gi, gh)
            i = [sigmoid(v) for v in s[0:H]]
            f = [sigmoid(v) for v in s[H:2 * H]]
            g = [math.tanh(v) for v in s[2 * H:3 * H]]
            o = [sigmoid(v) for v in s[3 * H:4 * H]]
            c2 = [f[j] * c[j] + i[j] * g[j] for j in range(H)]
            return [o[j] * math.tanh(c2[j]) for j in range(H)], c2
        r = [sigmoid(gi[j] + gh[j]) for j in range(H)]
        z = [sigmoid(gi[H + j] + gh[H + j]) for j in range(H)]
        n = [math.tanh(gi[2 * H + j] + r[j] * gh[2 * H + j]) for j in range(H)]
        return [(1 - z[j]) * n[j] + z[j] * h[j] for j in range(H)], c


def run_direction(cell, xs, h, c, reverse):
    """Returns (per-step outputs in time order, final h, final c)."""
    outs = [None] * len(xs)
    order = range(len(xs) - 1, -1, -1) if reverse else range(len(xs))
    for t in order:
        h, c = cell.step(xs[t], h, c)
        outs[t] = h
    return outs, h, c


def run_network(layers, xs, h0, c0):
    """layers[l] = [forward cell] or [forward cell, reverse cell]; h0/c0[l*dirs+d] = initial state.
    Returns (top-layer outputs per step, list of final h, list of final c) in (L*dirs) order."""
    fh, fc = [], []
    for l, cells in enumerate(layers):
        per_dir = []
        for d, cell in enumerate(cells):
            k = l * len(cells) + d
            outs, h, c = run_direction(cell, xs, h0[k], c0[k], reverse=(d == 1))
            per_dir.append(outs)
            fh.append(h)
            fc.append(c)
        xs = [sum((per_dir[d][t] for d in range(len(cells))), []) for t in range(len(xs))]
    return xs, fh, fc


def head(w, b, v):
    return add(matvec(w, v), b)


def mse(ys, ts):
    n = sum(len(y) for y in ys)
    return sum((a - b) ** 2 for y, t in zip(ys, ts) for a, b in zip(y, t)) / n


def bce(ys, ts):
    # -[t log s(y) + (1-t) log(1-s(y))], written directly (not in the engine's stable form).
    n = sum(len(y) for y in ys)
    total = 0.0
    for y, t in zip(ys, ts):
        for a, b in zip(y, t):
            total += -(b * math.log(sigmoid(a)) + (1 - b) * math.log(1 - sigmoid(a)))
    return total / n


def softmax_ce(ys, classes):
    total = 0.0
    for y, k in zip(ys, classes):
        m = max(y)
        lse = m + math.log(sum(math.exp(v - m) for v in y))
        total += lse - y[k]
    return total / len(ys)


def show(name, values):
    print(f"{name}: " + ", ".join(repr(float(v)) for v in values))


def zeros(n):
    return [0.0] * n


# ---------------------------------------------------------------- 1. one RNN step, I = 2, H = 2
RNN_W_IH = [0.1, -0.2, 0.3, 0.4]
RNN_W_HH = [-0.5, 0.6, 0.7, -0.8]
RNN_B_IH = [0.05, -0.05]
RNN_B_HH = [0.02, 0.03]
rnn = Cell("rnn", 2, 2, RNN_W_IH, RNN_W_HH, RNN_B_IH, RNN_B_HH)
h, _ = rnn.step([0.5, -1.0], [0.1, -0.2], None)
show("rnn_step_h", h)

# ---------------------------------------------------------------- 2. one LSTM step, I = 2, H = 2
LSTM_W_IH = [0.1, -0.2, 0.3, 0.4, -0.5, 0.6, 0.7, -0.8, 0.15, 0.25, -0.35, 0.45, 0.55, -0.65, -0.75, 0.85]
LSTM_W_HH = [0.2, 0.1, -0.1, 0.3, 0.4, -0.2, 0.05, 0.6, -0.3, 0.2, 0.1, -0.4, 0.25, 0.35, -0.15, 0.5]
LSTM_B_IH = [0.1, -0.1, 0.2, 0.3, -0.2, 0.05, 0.15, -0.25]
LSTM_B_HH = [0.05, 0.1, -0.05, 0.2, 0.0, -0.1, 0.3, 0.1]
lstm = Cell("lstm", 2, 2, LSTM_W_IH, LSTM_W_HH, LSTM_B_IH, LSTM_B_HH)
h, c = lstm.step([0.5, -1.0], [0.1, -0.2], [0.3, -0.4])
show("lstm_step_h", h)
show("lstm_step_c", c)

# ---------------------------------------------------------------- 3. one GRU step, I = 2, H = 2
GRU_W_IH = [0.1, -0.2, 0.3, 0.4, -0.5, 0.6, 0.7, -0.8, 0.15, 0.25, -0.35, 0.45]
GRU_W_HH = [0.2, 0.1, -0.1, 0.3, 0.4, -0.2, 0.05, 0.6, -0.3, 0.2, 0.1, -0.4]
GRU_B_IH = [0.1, -0.1, 0.2, 0.3, -0.2, 0.05]
GRU_B_HH = [0.05, 0.1, -0.05, 0.2, 0.0, -0.1]
gru = Cell("gru", 2, 2, GRU_W_IH, GRU_W_HH, GRU_B_IH, GRU_B_HH)
h, _ = gru.step([0.5, -1.0], [0.1, -0.2], None)
show("gru_step_h", h)

# ---------------------------------------------------------------- 4. LSTM over 3 steps (weights of 2), zero initial state
xs = [[0.5, -1.0], [0.2, 0.3], [-0.7, 0.4]]
outs, fh, fc = run_network([[lstm]], xs, [zeros(2)], [zeros(2)])
show("lstm_seq3_outputs", sum(outs, []))
show("lstm_seq3_final_c", fc[0])

# ---------------------------------------------------------------- 5. bidirectional GRU, 2 steps, head O = 1 on the final states
gru_rev = Cell("gru", 2, 2, pattern(12, 1), pattern(12, 2), pattern(6, 3), pattern(6, 4))
xs = [[0.5, -1.0], [0.2, 0.3]]
outs, fh, fc = run_network([[gru, gru_rev]], xs, [zeros(2), zeros(2)], [zeros(2), zeros(2)])
show("bigru_outputs", sum(outs, []))
show("bigru_final_h", fh[0] + fh[1])
HEAD_W = matrix(pattern(4, 5), 1, 4)
HEAD_B = [0.1]
show("bigru_head", head(HEAD_W, HEAD_B, fh[0] + fh[1]))

# ---------------------------------------------------------------- 6. losses on fixed outputs
ys = [[0.5, -1.0], [2.0, 0.0]]
show("mse", [mse(ys, [[1.0, -1.0], [0.0, 0.5]])])
show("bce", [bce(ys, [[1.0, 0.0], [0.0, 1.0]])])
show("softmax_ce", [softmax_ce([[0.5, -1.0, 2.0], [0.0, 0.3, -0.2]], [2, 0])])

# ---------------------------------------------------------------- 7. RNN (I = 2, H = 2) with an every-step head O = 2; two sequences (3 steps, 1 step)
rnn7 = Cell("rnn", 2, 2, pattern(4, 6), pattern(4, 7), pattern(2, 8), pattern(2, 9))
w7 = matrix(pattern(4, 10), 2, 2)
b7 = pattern(2, 11)
seqs7 = [[[0.5, -1.0], [0.2, 0.3], [-0.7, 0.4]], [[0.9, 0.1]]]
ys7 = []
for s in seqs7:
    outs, _, _ = run_network([[rnn7]], s, [zeros(2)], [zeros(2)])
    ys7.append([head(w7, b7, o) for o in outs])
show("every_step_outputs_seq0", sum(ys7[0], []))
show("every_step_outputs_seq1", sum(ys7[1], []))
steps = ys7[0] + ys7[1]  # the mean runs over all 4 valid steps of the batch
show("every_step_mse", [mse(steps, [[0.1, -0.2], [0.3, 0.0], [-0.5, 0.5], [1.0, 1.0]])])
show("every_step_bce", [bce(steps, [[1.0, 0.0], [0.0, 0.0], [1.0, 1.0], [0.0, 1.0]])])
show("every_step_softmax_ce", [softmax_ce(steps, [1, 0, 1, 0])])

# ---------------------------------------------------------------- 8. embedding (V = 4, E = 2, row 0 zero) → 2-layer RNN (H = 2) → last-hidden head O = 2
emb = [[0.0, 0.0], [0.3, -0.1], [-0.2, 0.4], [0.5, 0.25]]
l0 = Cell("rnn", 2, 2, pattern(4, 12), pattern(4, 13), pattern(2, 14), pattern(2, 15))
l1 = Cell("rnn", 2, 2, pattern(4, 16), pattern(4, 17), pattern(2, 18), pattern(2, 19))
tokens = [1, 3, 0, 2]
outs, fh, _ = run_network([[l0], [l1]], [emb[t] for t in tokens], [zeros(2), zeros(2)], [zeros(2), zeros(2)])
y8 = head(matrix(pattern(4, 20), 2, 2), pattern(2, 21), fh[1])
show("embedding_head", y8)
show("embedding_softmax_ce", [softmax_ce([y8], [1])])

# ---------------------------------------------------------------- 9. 2-layer bidirectional LSTM (I = 2, H = 2), initial h0/c0, last-hidden head O = 1
cells9 = [[Cell("lstm", 2 if l == 0 else 4, 2,
                pattern(8 * (2 if l == 0 else 4), 30 + 4 * (2 * l + d)),
                pattern(16, 31 + 4 * (2 * l + d)),
                pattern(8, 32 + 4 * (2 * l + d)),
                pattern(8, 33 + 4 * (2 * l + d))) for d in range(2)] for l in range(2)]
h0 = [pattern(2, 50 + k) for k in range(4)]
c0 = [pattern(2, 60 + k) for k in range(4)]
xs = [[0.5, -1.0], [0.2, 0.3], [-0.7, 0.4]]
outs, fh, fc = run_network(cells9, xs, h0, c0)
y9 = head(matrix(pattern(4, 70), 1, 4), [0.05], fh[2] + fh[3])
show("bilstm2_final_h", sum(fh, []))
show("bilstm2_final_c", sum(fc, []))
show("bilstm2_head", y9)
show("bilstm2_mse", [mse([y9], [[0.25]])])
