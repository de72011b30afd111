"""Tree-LSTM cells against Tai et al. (2015)'s equations, the level-by-level batched runner
against the node-by-node recursion (outputs and gradients), the TreeBatch layout, and the node
classifier.

The cell references are written from scratch with plain loops over nodes and children, on
weight slices taken from the cell's parameters (never its methods), in float64.
"""

from __future__ import annotations

import random

import pytest
import torch
from torch import nn

from rnnkit.text.vocab import PAD, UNK, Vocabulary
from rnnkit.tree.batch import IGNORE, TreeBatch
from rnnkit.tree.cells import ChildSumTreeLSTMCell, NaryTreeLSTMCell
from rnnkit.tree.model import TreeClassifier, TreeLSTM
from rnnkit.tree.tree import Tree

D, H = 3, 4
WORDS = ["a", "b", "c", "d", "e", "f"]
UNKNOWN = ["zz", "yy"]  # never in the vocabulary


def close(actual, expected):
    torch.testing.assert_close(actual, expected, rtol=1e-10, atol=1e-12)


def randomize(module: nn.Module, scale: float = 0.5) -> None:
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn_like(p) * scale)


def vocab() -> Vocabulary:
    return Vocabulary.build([WORDS])


# -- cell references ---------------------------------------------------------------------------
def ref_childsum(cell: ChildSumTreeLSTMCell, x, children):
    """One node: x (D,), children a list of (h_k, c_k), each (H,). Returns (h, c)."""
    W, b = cell.input.weight, cell.input.bias
    W_i, W_o, W_u, W_f = W[:H], W[H : 2 * H], W[2 * H : 3 * H], W[3 * H :]
    b_i, b_o, b_u, b_f = b[:H], b[H : 2 * H], b[2 * H : 3 * H], b[3 * H :]
    U = cell.recurrent_iou.weight
    U_i, U_o, U_u = U[:H], U[H : 2 * H], U[2 * H :]
    U_f = cell.recurrent_f.weight
    h_sum = torch.zeros(H, dtype=x.dtype)
    for h_k, _ in children:
        h_sum = h_sum + h_k
    i = torch.sigmoid(W_i @ x + U_i @ h_sum + b_i)
    o = torch.sigmoid(W_o @ x + U_o @ h_sum + b_o)
    u = torch.tanh(W_u @ x + U_u @ h_sum + b_u)
    c = i * u
    for h_k, c_k in children:
        f_k = torch.sigmoid(W_f @ x + U_f @ h_k + b_f)
        c = c + f_k * c_k
    return o * torch.tanh(c), c


def ref_nary(cell: NaryTreeLSTMCell, x, children):
    """One node: x (D,), children a list of at most N (h_l, c_l); missing slots are zeros."""
    N = cell.arity
    W, b = cell.input.weight, cell.input.bias
    W_i, W_o, W_u, W_f = W[:H], W[H : 2 * H], W[2 * H : 3 * H], W[3 * H :]
    b_i, b_o, b_u, b_f = b[:H], b[H : 2 * H], b[2 * H : 3 * H], b[3 * H :]
    U = cell.recurrent.weight  # rows i, o, u, f_1..f_N; columns child 1..N

    def block(gate_row: int, child: int):
        return U[gate_row * H : (gate_row + 1) * H, child * H : (child + 1) * H]

    zero = torch.zeros(H, dtype=x.dtype)
    hs = [h for h, _ in children] + [zero] * (N - len(children))
    cs = [c for _, c in children] + [zero] * (N - len(children))
    pre_i, pre_o, pre_u = W_i @ x + b_i, W_o @ x + b_o, W_u @ x + b_u
    for slot in range(N):
        pre_i = pre_i + block(0, slot) @ hs[slot]
        pre_o = pre_o + block(1, slot) @ hs[slot]
        pre_u = pre_u + block(2, slot) @ hs[slot]
    i, o, u = torch.sigmoid(pre_i), torch.sigmoid(pre_o), torch.tanh(pre_u)
    c = i * u
    for k in range(N):
        pre_f = W_f @ x + b_f
        for slot in range(N):
            pre_f = pre_f + block(3 + k, slot) @ hs[slot]
        c = c + torch.sigmoid(pre_f) * cs[k]
    return o * torch.tanh(c), c


def make_cell(kind: str):
    if kind == "childsum":
        cell = ChildSumTreeLSTMCell(D, H)
    else:
        cell = NaryTreeLSTMCell(D, H, arity=int(kind[-1]))
    randomize(cell)
    return cell.double()


def reference(cell, x, children):
    if isinstance(cell, ChildSumTreeLSTMCell):
        return ref_childsum(cell, x, children)
    return ref_nary(cell, x, children)


def random_children(counts: list[int], K: int, garbage: float = 0.0):
    """child_h/child_c (M, K, H) with real children in the first counts[m] slots and
    ``garbage`` times random values elsewhere; mask (M, K)."""
    M = len(counts)
    mask = torch.zeros(M, K, dtype=torch.bool)
    for m, n in enumerate(counts):
        mask[m, :n] = True
    child_h = torch.randn(M, K, H, dtype=torch.float64)
    child_c = torch.randn(M, K, H, dtype=torch.float64)
    noise_h = torch.randn(M, K, H, dtype=torch.float64) * garbage
    noise_c = torch.randn(M, K, H, dtype=torch.float64) * garbage
    child_h = torch.where(mask[..., None], child_h, noise_h)
    child_c = torch.where(mask[..., None], child_c, noise_c)
    return child_h, child_c, mask


CELL_CASES = [
    ("childsum", [0, 1, 3, 2]),
    ("nary2", [0, 1, 2, 2]),
    ("nary3", [0, 1, 3, 2]),
]


# -- 1, 2. cells against their equations -------------------------------------------------------
@pytest.mark.parametrize("kind,counts", CELL_CASES)
def test_cell_matches_equations_node_by_node(kind, counts):
    """Nodes with 0 and several children in one call; outputs and gradients of the cell's
    parameters, x and the real children's states equal the per-node reference."""
    cell = make_cell(kind)
    K = max(counts)
    x = torch.randn(len(counts), D, dtype=torch.float64, requires_grad=True)
    child_h, child_c, mask = random_children(counts, K, garbage=10.0)
    child_h.requires_grad_(True)
    child_c.requires_grad_(True)
    h, c = cell(x, child_h, child_c, mask)
    assert h.shape == c.shape == (len(counts), H)
    ref_h, ref_c = [], []
    for m, n in enumerate(counts):
        kids = [(child_h[m, k], child_c[m, k]) for k in range(n)]
        hm, cm = reference(cell, x[m], kids)
        ref_h.append(hm)
        ref_c.append(cm)
    ref_h, ref_c = torch.stack(ref_h), torch.stack(ref_c)
    close(h, ref_h)
    close(c, ref_c)

    w_h, w_c = torch.randn_like(h), torch.randn_like(c)
    inputs = [x, child_h, child_c, *cell.parameters()]
    grads = torch.autograd.grad((h * w_h).sum() + (c * w_c).sum(), inputs)
    ref_grads = torch.autograd.grad((ref_h * w_h).sum() + (ref_c * w_c).sum(), inputs)
    for g, r in zip(grads, ref_grads, strict=True):
        close(g, r)
    # Padded slots receive no gradient.
    assert torch.all(grads[1][~mask] == 0) and torch.all(grads[2][~mask] == 0)


@pytest.mark.parametrize("kind,counts", CELL_CASES)
def test_cell_ignores_garbage_in_padded_slots(kind, counts):
    cell = make_cell(kind)
    K = max(counts)
    x = torch.randn(len(counts), D, dtype=torch.float64)
    torch.manual_seed(1)
    clean = random_children(counts, K, garbage=0.0)
    torch.manual_seed(1)
    dirty = random_children(counts, K, garbage=1e3)
    assert not torch.equal(clean[0], dirty[0])
    h0, c0 = cell(x, *clean)
    h1, c1 = cell(x, *dirty)
    assert torch.equal(h0, h1) and torch.equal(c0, c1)


@pytest.mark.parametrize("kind,counts", CELL_CASES)
def test_cell_ignores_nonfinite_garbage_in_padded_slots(kind, counts):
    """The module docstring promises that padded slots never matter; uninitialized padding
    (torch.empty) may hold nan or inf."""
    cell = make_cell(kind)
    K = max(counts)
    x = torch.randn(len(counts), D, dtype=torch.float64)
    child_h, child_c, mask = random_children(counts, K)
    h0, c0 = cell(x, child_h, child_c, mask)
    child_h = child_h.masked_fill(~mask[..., None], float("nan"))
    child_c = child_c.masked_fill(~mask[..., None], float("inf"))
    h1, c1 = cell(x, child_h, child_c, mask)
    assert torch.equal(h0, h1) and torch.equal(c0, c1)


@pytest.mark.parametrize("kind", ["childsum", "nary2", "nary3"])
def test_cell_with_no_child_slots_is_a_leaf(kind):
    cell = make_cell(kind)
    x = torch.randn(3, D, dtype=torch.float64)
    empty = torch.zeros(3, 0, H, dtype=torch.float64)
    h, c = cell(x, empty, empty, torch.zeros(3, 0, dtype=torch.bool))
    for m in range(3):
        hm, cm = reference(cell, x[m], [])
        close(h[m], hm)
        close(c[m], cm)


def test_childsum_ignores_child_order():
    cell = make_cell("childsum")
    x = torch.randn(2, D, dtype=torch.float64)
    child_h, child_c, mask = random_children([3, 3], 3)
    perm = torch.tensor([2, 0, 1])
    h0, c0 = cell(x, child_h, child_c, mask)
    h1, c1 = cell(x, child_h[:, perm], child_c[:, perm], mask)
    close(h0, h1)
    close(c0, c1)


@pytest.mark.parametrize("arity", [2, 3])
def test_nary_fewer_children_equals_explicit_zero_states(arity):
    """A node with n < N children: n slots, N slots with zero states, and N slots with masked
    garbage all give the same (h, c); and the child order matters."""
    cell = make_cell(f"nary{arity}")
    M = 3
    x = torch.randn(M, D, dtype=torch.float64)
    for n in range(arity):
        h_n = torch.randn(M, n, H, dtype=torch.float64)
        c_n = torch.randn(M, n, H, dtype=torch.float64)
        short = cell(x, h_n, c_n, torch.ones(M, n, dtype=torch.bool))
        pad = torch.zeros(M, arity - n, H, dtype=torch.float64)
        zeros = cell(
            x, torch.cat([h_n, pad], 1), torch.cat([c_n, pad], 1), torch.ones(M, arity, dtype=bool)
        )
        junk = torch.randn(M, arity - n, H, dtype=torch.float64) * 100
        mask = torch.zeros(M, arity, dtype=torch.bool)
        mask[:, :n] = True
        masked = cell(x, torch.cat([h_n, junk], 1), torch.cat([c_n, junk], 1), mask)
        for a, b in zip(short, zeros, strict=True):
            close(a, b)
        for a, b in zip(short, masked, strict=True):
            close(a, b)
    child_h, child_c, mask = random_children([arity] * M, arity)
    h0, _ = cell(x, child_h, child_c, mask)
    h1, _ = cell(x, child_h.flip(1), child_c.flip(1), mask)
    assert not torch.allclose(h0, h1)


@pytest.mark.parametrize("arity", [1, 2, 3])
def test_nary_rejects_more_slots_than_arity(arity):
    cell = make_cell(f"nary{arity}")
    K = arity + 1
    child = torch.zeros(2, K, H, dtype=torch.float64)
    with pytest.raises(ValueError, match=f"a {arity}-ary cell got nodes with {K} child slots"):
        cell(torch.zeros(2, D, dtype=torch.float64), child, child, torch.ones(2, K, dtype=bool))


def test_nary_rejects_arity_below_one():
    with pytest.raises(ValueError, match="arity: expected at least 1, got 0"):
        NaryTreeLSTMCell(D, H, arity=0)


# -- trees -------------------------------------------------------------------------------------
def random_tree(rng: random.Random, depth: int, max_children: int) -> Tree:
    label = rng.choice([None, 0, 1, 2, 3, 4])
    if depth == 0 or rng.random() < 0.3:
        token = rng.choice([*WORDS, *WORDS, *UNKNOWN, None])
        return Tree(label, token=token)
    kids = [random_tree(rng, depth - 1, max_children) for _ in range(rng.randint(1, max_children))]
    return Tree(label, kids, token=rng.choice([None, None, rng.choice(WORDS), UNKNOWN[0]]))


def chain(depth: int) -> Tree:
    node = Tree(0, token="a")
    for d in range(depth):
        node = Tree(d % 5 if d % 2 else None, [node], token=None if d % 3 else "b")
    return node


def forest(max_children: int, seed: int = 0) -> list[Tree]:
    """Mixed shapes: a single leaf, a deep chain, a node with max_children leaves, random."""
    rng = random.Random(seed)
    wide = Tree(2, [Tree(None, token=w) for w in ["a", "zz", "c", "d", "e", "f"][:max_children]])
    trees = [
        Tree(1, token="c"),
        chain(9),
        wide,
        Tree(None, token="zz"),  # a single unknown leaf
    ]
    trees += [random_tree(rng, rng.randint(1, 4), max_children) for _ in range(6)]
    rng.shuffle(trees)
    return trees


MODEL_CASES = [("childsum", 2, 5), ("nary", 2, 2), ("nary", 3, 3)]


def make_model(cell: str, arity: int, dropout: float = 0.0) -> TreeLSTM:
    model = TreeLSTM(len(vocab()), D, H, cell=cell, arity=arity, dropout=dropout)
    randomize(model)
    with torch.no_grad():
        model.embed.weight[PAD] = 0  # as nn.Embedding(padding_idx=PAD) keeps it
    return model.double()


def weighted_loss(h, c, w_h, w_c):
    return (h * w_h).sum() + (c * w_c).sum()


# -- 3. batched equals recursive ---------------------------------------------------------------
@pytest.mark.parametrize("dropout", [0.0, 0.5])
@pytest.mark.parametrize("cell,arity,max_children", MODEL_CASES)
def test_batched_equals_recursive(cell, arity, max_children, dropout):
    model = make_model(cell, arity, dropout)
    model.eval()  # dropout, if any, is off
    v = vocab()
    trees = forest(max_children)
    batch = TreeBatch.build(trees, v)
    h, c = model(batch)
    N = sum(len(t) for t in trees)
    assert h.shape == c.shape == (N, H)
    w_h, w_c = torch.randn_like(h), torch.randn_like(c)

    ref_h, ref_c = torch.empty_like(h), torch.empty_like(c)
    ref_loss = 0.0
    for tree, rows in zip(trees, batch.rows, strict=True):
        states = model.forward_recursive(tree, v)
        assert len(states) == len(tree) == len(rows)
        for row, (hr, cr) in zip(rows, states, strict=True):
            ref_h[row], ref_c[row] = hr.detach(), cr.detach()
            ref_loss = ref_loss + (hr * w_h[row]).sum() + (cr * w_c[row]).sum()
    close(h, ref_h)
    close(c, ref_c)

    params = list(model.parameters())
    grads = torch.autograd.grad(weighted_loss(h, c, w_h, w_c), params)
    ref_grads = torch.autograd.grad(ref_loss, params)
    for (name, _), g, r in zip(model.named_parameters(), grads, ref_grads, strict=True):
        assert g.abs().sum() > 0, name
        torch.testing.assert_close(g, r, rtol=1e-9, atol=1e-11, msg=name)


@pytest.mark.parametrize("cell,arity,max_children", MODEL_CASES)
def test_batched_single_leaf_batch(cell, arity, max_children):
    model = make_model(cell, arity)
    v = vocab()
    tree = Tree(0, token="b")
    h, c = model(TreeBatch.build([tree], v))
    [(hr, cr)] = model.forward_recursive(tree, v)
    close(h[0], hr)
    close(c[0], cr)


@pytest.mark.parametrize("cell,arity,max_children", MODEL_CASES)
def test_batched_does_not_depend_on_batch_company(cell, arity, max_children):
    """A tree's states are the same alone and in a batch with others."""
    model = make_model(cell, arity)
    v = vocab()
    trees = forest(max_children, seed=3)
    h, c = model(TreeBatch.build(trees, v))
    for t in (0, len(trees) // 2, len(trees) - 1):
        batch = TreeBatch.build(trees, v)
        alone = TreeBatch.build([trees[t]], v)
        h1, c1 = model(alone)
        close(h[batch.rows[t]], h1[alone.rows[0]])
        close(c[batch.rows[t]], c1[alone.rows[0]])


def test_dropout_acts_in_training_only():
    model = make_model("childsum", 2, dropout=0.5)
    batch = TreeBatch.build(forest(3), vocab())
    model.train()
    h_train, _ = model(batch)
    model.eval()
    h_eval, _ = model(batch)
    h_again, _ = model(batch)
    assert not torch.allclose(h_train, h_eval)
    assert torch.equal(h_eval, h_again)


def test_nary_model_rejects_too_many_children():
    model = make_model("nary", 2)
    tree = Tree(0, [Tree(token="a"), Tree(token="b"), Tree(token="c")])
    with pytest.raises(ValueError, match="a 2-ary cell got nodes with 3 child slots"):
        model(TreeBatch.build([tree], vocab()))


def test_tree_lstm_rejects_unknown_cell():
    with pytest.raises(ValueError, match="cell: expected 'childsum' or 'nary', got 'gru'"):
        TreeLSTM(10, D, H, cell="gru")


# -- 4. TreeBatch layout -----------------------------------------------------------------------
def level_of(batch: TreeBatch) -> list[int]:
    out = [0] * batch.num_nodes
    for lv, (start, end) in enumerate(batch.levels):
        for r in range(start, end):
            out[r] = lv
    return out


@pytest.mark.parametrize("max_children", [2, 5])
def test_tree_batch_layout(max_children):
    v = vocab()
    trees = forest(max_children, seed=7)
    batch = TreeBatch.build(trees, v)
    N = sum(len(t) for t in trees)
    assert batch.num_nodes == N
    assert batch.tokens.shape == batch.labels.shape == (N,)
    assert len(batch.levels) == max(t.height() for t in trees) + 1
    # Levels are contiguous ranges covering every row, leaves first.
    assert batch.levels[0][0] == 0 and batch.levels[-1][1] == N
    for (_, end), (start, _) in zip(batch.levels, batch.levels[1:], strict=False):
        assert end == start
    assert all(start < end for start, end in batch.levels)
    assert len(batch.children) == len(batch.levels)
    assert batch.children[0].shape == (batch.levels[0][1], 0)

    # Rows per tree: len(tree) distinct rows; together, every row once.
    assert len(batch.rows) == len(trees)
    for tree, rows in zip(trees, batch.rows, strict=True):
        assert len(rows) == len(set(rows)) == len(tree)
    assert sorted(r for rows in batch.rows for r in rows) == list(range(N))
    assert batch.roots.tolist() == [rows[-1] for rows in batch.rows]

    level = level_of(batch)
    seen_children: dict[int, list[int]] = {}
    for lv, ((start, end), slots) in enumerate(zip(batch.levels, batch.children, strict=True)):
        assert slots.shape[0] == end - start
        for i in range(end - start):
            kids = slots[i].tolist()
            real = [k for k in kids if k >= 0]
            assert kids == real + [-1] * (len(kids) - len(real))  # -1 only after real children
            assert all(level[k] < lv for k in real)  # children in earlier levels
            seen_children[start + i] = real
        # The slot width is the level's largest number of children.
        assert slots.shape[1] == max(len(seen_children[r]) for r in range(start, end))

    # Each node's row: its level is its height; its children, token and label are its own.
    for tree, rows in zip(trees, batch.rows, strict=True):
        post = {id(n): p for p, n in enumerate(tree.nodes())}
        for node, row in zip(tree.nodes(), rows, strict=True):
            assert level[row] == node.height()
            assert seen_children[row] == [rows[post[id(k)]] for k in node.children]
            want_label = IGNORE if node.label is None else node.label
            assert batch.labels[row].item() == want_label
            if node.token is None:
                want_token = PAD
            elif node.token in UNKNOWN:
                want_token = UNK
            else:
                want_token = v.stoi[node.token]
            assert batch.tokens[row].item() == want_token
        root_row = rows[-1]
        assert level[root_row] == tree.height()


def test_tree_batch_codes():
    v = vocab()
    tree = Tree(None, [Tree(2, token="zz"), Tree(None, token=None), Tree(4, token="b")])
    batch = TreeBatch.build([tree], v)
    assert batch.tokens.tolist() == [UNK, PAD, v.stoi["b"], PAD]
    assert batch.labels.tolist() == [2, IGNORE, 4, IGNORE]
    assert IGNORE == -100 and PAD == 0 and UNK == 3
    assert batch.children[1].tolist() == [[0, 1, 2]]
    assert batch.roots.tolist() == [3]


def test_tree_batch_rows_ordered_by_level_then_tree_then_post_order():
    v = vocab()
    t0 = Tree(0, [Tree(1, [Tree(2, token="a")]), Tree(3, token="b")])
    t1 = Tree(4, token="c")
    batch = TreeBatch.build([t0, t1], v)
    # level 0: t0's "a", t0's "b", t1; level 1: t0's first child; level 2: t0's root.
    assert batch.levels == [(0, 3), (3, 4), (4, 5)]
    assert batch.rows == [[0, 3, 1, 4], [2]]
    assert batch.labels.tolist() == [2, 3, 4, 1, 0]
    assert batch.children[1].tolist() == [[0]]
    assert batch.children[2].tolist() == [[3, 1]]


def test_tree_batch_single_leaf():
    batch = TreeBatch.build([Tree(1, token="a")], vocab())
    assert batch.levels == [(0, 1)]
    assert batch.children[0].shape == (1, 0)
    assert batch.roots.tolist() == [0] and batch.rows == [[0]]


def test_tree_batch_rejects_empty_list():
    with pytest.raises(ValueError, match="trees: expected at least one tree"):
        TreeBatch.build([], vocab())


def test_tree_batch_same_tree_twice_keeps_children_within_each_tree():
    """Passing one Tree object twice (e.g. sampling with replacement) gives two copies whose
    children point into their own rows."""
    tree = Tree(1, [Tree(0, token="a"), Tree(0, token="b")])
    batch = TreeBatch.build([tree, tree], vocab())
    for rows in batch.rows:
        root = rows[-1]
        start, _ = batch.levels[1]
        assert batch.children[1][root - start].tolist() == rows[:2]


def test_tree_batch_to_keeps_layout():
    batch = TreeBatch.build(forest(2), vocab())
    moved = batch.to("cpu")
    assert torch.equal(moved.tokens, batch.tokens) and torch.equal(moved.labels, batch.labels)
    assert moved.levels == batch.levels and moved.rows == batch.rows
    assert all(torch.equal(a, b) for a, b in zip(moved.children, batch.children, strict=True))


# -- 5. TreeClassifier -------------------------------------------------------------------------
@pytest.mark.parametrize("cell,arity,max_children", MODEL_CASES)
def test_classifier_logits_and_backprop_into_embedding(cell, arity, max_children):
    C = 5
    v = vocab()
    model = TreeClassifier(
        len(v), C, embed_size=D, hidden_size=H, cell=cell, arity=arity, dropout=0.1
    )
    batch = TreeBatch.build(forest(max_children, seed=11), v)
    logits = model(batch)
    assert logits.shape == (batch.num_nodes, C)
    assert (batch.labels != IGNORE).any() and (batch.labels == IGNORE).any()
    loss = nn.functional.cross_entropy(logits, batch.labels, ignore_index=IGNORE)
    assert torch.isfinite(loss)
    loss.backward()
    grad = model.encoder.embed.weight.grad
    assert grad is not None
    used = set(batch.tokens.tolist())
    for token in range(len(v)):
        if token in used and token != PAD:
            assert grad[token].abs().sum() > 0, v.itos[token]
        else:  # <pad> embeds to a constant zero; absent tokens get nothing
            assert torch.all(grad[token] == 0), v.itos[token]
    for name, p in model.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_classifier_eval_logits_are_output_layer_of_encoder_states():
    v = vocab()
    model = TreeClassifier(len(v), 3, embed_size=D, hidden_size=H, dropout=0.5).eval()
    batch = TreeBatch.build(forest(3), v)
    h, _ = model.encoder(batch)
    torch.testing.assert_close(model(batch), model.output(h))
