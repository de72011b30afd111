"""The tree tasks: TreeTask's loss (every labelled node or the roots), root accuracy and
evaluation in batches; ``trees`` from treebank files (fine and binary classes, the vocabulary
in the task state, the majority baseline); ``listops`` (held-out sets disjoint from training
and of every length, batches a function of seed and step, both tree forms); the task's own
config (its checks, old files' head fields), model label and refusals."""

from collections import Counter

import pytest
import torch
import torch.nn.functional as F

from rnnkit.errors import ConfigError, ExportError, UsageError
from rnnkit.tasks import build_task, registry
from rnnkit.tasks.trees import TreeConfig, TreeTask
from rnnkit.text.parallel import DataError
from rnnkit.text.vocab import UNK, Vocabulary
from rnnkit.training.config import RunConfig, load_file
from rnnkit.tree import listops
from rnnkit.tree.batch import IGNORE, TreeBatch
from rnnkit.tree.model import TreeClassifier
from rnnkit.tree.readers import parse_bracketed

# Root labels 3 3 1 2 4 2 3: the majority class is 3; two sentences are neutral at the root.
TRAIN = [
    "(3 (2 It) (4 (2 's) (3 (2 very) (3 good))))",
    "(3 (3 nice) (2 film))",
    "(1 (1 bad) (2 film))",
    "(2 (2 a) (2 film))",
    "(4 (4 great) (3 (2 and) (3 fun)))",
    "(2 (3 nice) (1 boring))",
    "(3 (2 a) (3 (3 good) (2 film)))",
]
# Root labels 3 1 2 3: the training majority (3) is right on two of four; binary: 1 0 1.
VALID = [
    "(3 (3 good) (2 film))",
    "(1 (0 awful) (2 film))",
    "(2 (2 a) (2 plot))",
    "(3 (3 very) (4 (4 great) (2 stuff)))",
]
TEST = [
    "(0 (0 awful) (1 dull))",
    "(4 (2 a) (4 masterpiece))",
]
BINARY = {0: 0, 1: 0, 2: None, 3: 1, 4: 1}


def write(path, lines) -> str:
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return str(path)


@pytest.fixture
def files(tmp_path):
    return {
        "data": write(tmp_path / "train.txt", TRAIN),
        "valid": write(tmp_path / "valid.txt", VALID),
        "test": write(tmp_path / "test.txt", TEST),
    }


def trees_config(files, **overrides):
    return RunConfig().replace(task="trees", **files, **overrides).task


def listops_config(**overrides):
    base = dict(task="listops", train_size=300, seq_len=10, valid_size=50, test_size=50)
    return RunConfig().replace(**{**base, **overrides}).task


def labels(tree):
    return [n.label for n in tree.nodes()]


def leaf_key(tree):
    return tuple(n.token for n in tree.leaves())


# -- TreeTask: loss, accuracy, evaluate ------------------------------------------------------


def hand_task(node_loss=True):
    trees = [parse_bracketed(t) for t in TRAIN[:5]]
    # A node without a label (as in binary treebanks or ListOps) is left out of the node loss.
    trees[1].children[1].label = None
    vocab = Vocabulary.build([t.tokens() for t in trees])
    task = TreeTask(
        "hand", vocab=vocab, num_classes=5, splits={"valid": lambda: trees}, node_loss=node_loss
    )
    return task, trees


def test_node_loss_is_cross_entropy_over_every_labelled_node():
    task, trees = hand_task()
    batch = TreeBatch.build(trees, task.vocab)
    output = torch.randn(batch.num_nodes, 5)
    terms = [
        F.cross_entropy(output[row][None], torch.tensor([node.label]))
        for tree, rows in zip(trees, batch.rows, strict=True)
        for node, row in zip(tree.nodes(), rows, strict=True)
        if node.label is not None
    ]
    assert len(terms) == sum(len(t) for t in trees) - 1
    expected = torch.stack(terms).mean()
    assert task.loss(output, batch).item() == pytest.approx(expected.item(), rel=1e-6)


def test_without_node_loss_a_tree_output_is_scored_at_the_roots():
    task, trees = hand_task(node_loss=False)
    batch = TreeBatch.build(trees, task.vocab)
    output = torch.randn(batch.num_nodes, 5)
    roots = torch.stack([output[rows[-1]] for rows in batch.rows])
    expected = F.cross_entropy(roots, torch.tensor([t.label for t in trees]))
    assert task.loss(output, batch).item() == pytest.approx(expected.item(), rel=1e-6)


def test_sequence_output_is_scored_at_the_roots_even_with_node_loss():
    task, trees = hand_task()
    batch = TreeBatch.build(trees, task.vocab)
    output = torch.randn(len(trees), 5)  # (B, C): what a sequence model over the leaves gives
    expected = F.cross_entropy(output, torch.tensor([t.label for t in trees]))
    assert task.loss(output, batch).item() == pytest.approx(expected.item(), rel=1e-6)
    # The (B, C) output is read row by row as the trees, not gathered through the root rows.
    assert task.score(output, batch)["loss"] == pytest.approx(expected.item(), rel=1e-6)


def test_accuracy_counts_only_the_roots():
    task, trees = hand_task()
    batch = TreeBatch.build(trees, task.vocab)
    # Every node predicts the wrong class, except the roots of the first three trees.
    output = torch.zeros(batch.num_nodes, 5)
    wrong = (batch.labels.clamp(min=0) + 1) % 5
    output[torch.arange(batch.num_nodes), wrong] = 1.0
    for rows, tree in list(zip(batch.rows, trees, strict=True))[:3]:
        output[rows[-1]] = 0.0
        output[rows[-1], tree.label] = 1.0
    assert task.score(output, batch)["accuracy"] == pytest.approx(3 / 5)
    # The same roots as a (B, C) output.
    roots = torch.stack([output[rows[-1]] for rows in batch.rows])
    assert task.score(roots, batch)["accuracy"] == pytest.approx(3 / 5)


def test_evaluate_does_not_depend_on_the_batch_size():
    task, trees = hand_task()
    model = TreeClassifier(len(task.vocab), 5, embed_size=8, hidden_size=8).train()
    metrics = task.evaluate(model, "valid", batch_size=2)  # batches of 2, 2 and 1 trees
    assert model.training  # restored
    assert task.evaluate(model, "valid", batch_size=5) == pytest.approx(metrics, rel=1e-5)
    model.eval()
    with torch.no_grad():
        correct, total, labelled = [], 0.0, 0
        for tree in trees:  # one tree at a time
            batch = TreeBatch.build([tree], task.vocab)
            logits = model(batch)
            correct.append(int(logits[batch.roots].argmax(-1)) == tree.label)
            keep = batch.labels != -100  # the loss covers every labelled node (node_loss)
            total += F.cross_entropy(logits[keep], batch.labels[keep], reduction="sum").item()
            labelled += int(keep.sum())
    assert metrics["accuracy"] == pytest.approx(sum(correct) / len(trees))
    assert metrics["loss"] == pytest.approx(total / labelled, rel=1e-5)


def test_a_split_without_data_is_an_error():
    task, _ = hand_task()
    with pytest.raises(ValueError, match=r"^split: task 'hand' has no 'test' data"):
        task.trees("test")


# -- trees: treebank files -------------------------------------------------------------------


def test_fine_keeps_five_classes_and_every_node_label(files):
    task = build_task(trees_config(files))
    assert task.name == "trees" and task.output_size == 5 and task.node_loss
    task.load()
    for split, lines in (("train", TRAIN), ("valid", VALID), ("test", TEST)):
        assert [labels(t) for t in task.trees(split)] == [
            labels(parse_bracketed(line)) for line in lines
        ]
    assert "5 classes" in task.describe()


def test_binary_has_two_classes_drops_neutral_roots_and_maps_every_node(files):
    task = build_task(trees_config(files, classes="binary"))
    assert task.output_size == 2
    for split, lines in (("train", TRAIN), ("valid", VALID), ("test", TEST)):
        kept = [parse_bracketed(line) for line in lines if not line.startswith("(2 ")]
        got = task.trees(split)
        assert len(got) == len(kept)
        assert [labels(t) for t in got] == [[BINARY[x] for x in labels(t)] for t in kept]
    assert len(task.trees("train")) == len(TRAIN) - 2
    assert len(task.trees("valid")) == len(VALID) - 1
    # Neutral nodes are left out of the loss.
    batch = task.eval_set("valid")[0]
    neutral = sum(x == 2 for line in VALID[:2] + VALID[3:] for x in labels(parse_bracketed(line)))
    assert int((batch.labels == IGNORE).sum()) == neutral > 0


def test_test_defaults_to_the_validation_set(files):
    task = build_task(trees_config({**files, "test": None}))
    assert [labels(t) for t in task.trees("test")] == [labels(t) for t in task.trees("valid")]


def test_the_state_rebuilds_the_task_without_its_files(files, tmp_path):
    task = build_task(trees_config(files))
    state = task.state_dict()
    missing = {k: str(tmp_path / "gone" / f"{k}.txt") for k in ("data", "valid", "test")}
    again = TreeTask.from_config(trees_config(missing), state)
    assert again.vocab.itos == task.vocab.itos
    assert again.output_size == 5
    # It encodes any tree as the original does, unknown words included.
    trees = [parse_bracketed(t) for t in VALID + ["(2 (2 unseen) (2 good))"]]
    a, b = TreeBatch.build(trees, task.vocab), TreeBatch.build(trees, again.vocab)
    assert torch.equal(a.tokens, b.tokens) and torch.equal(a.flat, b.flat)
    assert int(a.flat[-1, 0]) == UNK
    # The files are read only when a split is asked for.
    with pytest.raises(DataError, match="no such file"):
        again.trees("valid")


def test_binary_state_rebuilds_a_binary_task(files, tmp_path):
    task = build_task(trees_config(files, classes="binary"))
    missing = {k: str(tmp_path / f"gone-{k}.txt") for k in ("data", "valid")}
    again = TreeTask.from_config(trees_config(missing, classes="binary"), task.state_dict())
    assert again.output_size == 2 and again.vocab.itos == task.vocab.itos


def test_vocabulary_comes_from_the_training_file_only(files):
    task = build_task(trees_config(files))
    words = {w for line in TRAIN for w in parse_bracketed(line).tokens()}
    assert set(task.vocab.itos[4:]) == words
    assert "masterpiece" not in task.vocab.stoi  # test-only


def test_baseline_is_the_training_majority_measured_on_valid(files):
    assert build_task(trees_config(files)).baseline == {"accuracy": pytest.approx(2 / 4)}
    binary = build_task(trees_config(files, classes="binary"))
    assert binary.baseline == {"accuracy": pytest.approx(2 / 3)}
    assert binary.baseline_label == "majority-class baseline"


# -- listops ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def listops_task():
    task = build_task(listops_config())
    task.load()
    return task


def test_listops_splits_are_disjoint_sized_and_distinct(listops_task):
    keys = {s: [leaf_key(t) for t in listops_task.trees(s)] for s in ("train", "valid", "test")}
    assert {s: len(k) for s, k in keys.items()} == {"train": 300, "valid": 50, "test": 50}
    for split, k in keys.items():
        assert len(set(k)) == len(k), split
    train, valid, test = (set(keys[s]) for s in ("train", "valid", "test"))
    assert not train & valid
    assert not train & test
    assert not valid & test


def test_listops_training_is_short_and_held_out_sets_have_every_length(listops_task):
    def lengths(split):
        return [len(list(t.leaves())) for t in listops_task.trees(split)]

    assert max(lengths("train")) <= 10
    for split in ("valid", "test"):
        assert any(n > 10 for n in lengths(split)), split
        assert any(n <= 10 for n in lengths(split)), split


def test_listops_binary_trees_are_the_gold_parse_with_the_value_at_the_root(listops_task):
    assert listops_task.output_size == 10 and not listops_task.node_loss
    for tree in listops_task.trees("valid")[:10]:
        tokens = [n.token for n in tree.leaves()]
        label, expr = listops.parse_line(f"{tree.label}\t{' '.join(tokens)}")
        assert tree.label == label == listops.evaluate(expr)
        assert all(len(n.children) in (0, 2) for n in tree.nodes())
        assert [n.label for n in tree.nodes()][:-1] == [None] * (len(tree) - 1)
    batch = listops_task.eval_set("test")[0]
    assert not (batch.tokens == UNK).any()


def evaluate_operator_tree(tree):
    if tree.is_leaf:
        return int(tree.token)
    values = [evaluate_operator_tree(c) for c in tree.children]
    return listops.evaluate(listops.Op(tree.token, tuple(values)))


def test_listops_operator_trees_have_operators_inside():
    task = build_task(listops_config(tree_form="operator", valid_size=20, test_size=20))
    for split in ("train", "valid"):
        for tree in task.trees(split)[:30]:
            for node in tree.nodes():
                if node.is_leaf:
                    assert node.token in {str(d) for d in range(10)}
                else:
                    assert node.token in listops.OPERATORS
                    assert 2 <= len(node.children) <= 5
            assert tree.label == evaluate_operator_tree(tree)
    batch = TreeBatch.build(task.trees("valid"), task.vocab)
    assert not (batch.tokens == UNK).any()


def test_listops_forms_hold_the_same_expressions():
    binary = build_task(listops_config(train_size=40, valid_size=10, test_size=10))
    operator = build_task(
        listops_config(train_size=40, valid_size=10, test_size=10, tree_form="operator")
    )
    for split in ("train", "valid"):
        a, b = binary.trees(split), operator.trees(split)
        assert [t.label for t in a] == [t.label for t in b]
        assert [sum(n.token in listops.SYMBOLS[:4] for n in t.leaves()) for t in a] == [
            sum(not n.is_leaf for n in t.nodes()) for t in b
        ]


def test_listops_train_batch_is_a_function_of_seed_and_step():
    def batch(task, step, seed):
        x, y = task.train_batch(step, 16, seed)
        assert x is y
        return x.flat, x.lengths, x.labels

    a, b = build_task(listops_config()), build_task(listops_config())
    for step in (1, 7, 30):
        for u, v in zip(batch(a, step, 3), batch(b, step, 3), strict=True):
            assert torch.equal(u, v)
    # Asked out of order, on a task that has served other seeds meanwhile.
    first = batch(a, 7, 3)
    batch(a, 2, 4)
    for u, v in zip(first, batch(a, 7, 3), strict=True):
        assert torch.equal(u, v)
    assert not torch.equal(batch(a, 7, 3)[0], batch(a, 7, 4)[0])


def test_listops_epoch_visits_every_training_tree_once(listops_task):
    train = Counter(leaf_key(t) for t in listops_task.trees("train"))
    vocab = listops_task.vocab
    seen: Counter = Counter()
    step = 0
    while sum(seen.values()) < len(train):
        step += 1
        x, _ = listops_task.train_batch(step, 32, 0)
        for row, n in zip(x.flat.tolist(), x.lengths.tolist(), strict=True):
            seen[tuple(vocab.itos[i] for i in row[:n])] += 1
    assert step == 10  # ceil(300 / 32)
    assert seen == train


def test_listops_ignores_state_and_baseline_is_the_training_majority(listops_task):
    again = TreeTask.from_config(listops_config(), {"vocab": {"tokens": ["ignored"]}})
    assert again.vocab.itos == listops_task.vocab.itos
    counts = Counter(t.label for t in listops_task.trees("train"))
    majority = counts.most_common(1)[0][0]
    valid = [t.label for t in listops_task.trees("valid")]
    expected = valid.count(majority) / len(valid)
    assert listops_task.baseline["accuracy"] == pytest.approx(expected)


@pytest.mark.parametrize("data_seed", [0, 2])
def test_listops_valid_and_test_sets_are_disjoint_at_realistic_sizes(data_seed):
    """Short expressions recur often: drawn independently, valid and test share some."""
    task = build_task(listops_config(data_seed=data_seed, valid_size=200, test_size=200))
    valid = {leaf_key(t) for t in task.trees("valid")}
    shared = [" ".join(k) for t in task.trees("test") if (k := leaf_key(t)) in valid]
    assert not shared, f"{len(shared)} test expressions are also in valid, e.g. {shared[0]!r}"


# -- the task's config and hooks ------------------------------------------------------------


@pytest.mark.parametrize("name", ["trees", "listops"])
def test_both_tree_names_are_served_by_this_task(name):
    assert registry.task_class(name) is TreeTask
    assert registry.config_class(name) is TreeConfig


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"tree_cell": "gru"}, "task.tree_cell: expected one of 'childsum', 'nary', got 'gru'"),
        ({"tree_form": "ternary"}, "task.tree_form: expected one of 'binary', 'operator'"),
        ({"train_size": 0}, "task.train_size: expected a number > 0, got 0"),
        ({"embed": -1}, "task.embed: expected a number > 0, got -1"),
        ({"name": "trees"}, "task.data: task 'trees' needs --data FILE (a file of bracketed"),
        ({"test": "t.txt"}, "task.test: only for task 'trees' (task 'listops' makes its own data)"),
        ({"name": "adding"}, "task.name: expected one of trees, listops for a tree config"),
    ],
)
def test_config_errors_name_the_field_and_value(fields, message):
    with pytest.raises(ConfigError) as info:
        TreeConfig(**fields)
    assert str(info.value).startswith(message), str(info.value)


def test_head_fields_of_an_old_config_file_move_to_the_task(tmp_path, files):
    """Files of rnnkit 0.1 kept tree_cell, embed and embeddings in the model section."""
    path = tmp_path / "old.yaml"
    path.write_text(
        f"task: {{name: trees, data: {files['data']}, valid: {files['valid']}}}\n"
        "model: {name: tree-lstm, tree_cell: nary, embed: 6, embeddings: vectors.txt}\n"
    )
    task = load_file(path).task
    assert isinstance(task, TreeConfig)
    assert (task.tree_cell, task.embed, task.embeddings) == ("nary", 6, "vectors.txt")


def test_label_names_the_tree_lstm_and_its_cell(files):
    task = build_task(trees_config(files))
    config = RunConfig().replace(task="trees", **files, model="tree-lstm", tree_cell="nary")
    assert task.label(config) == "tree-lstm (nary)"
    assert task.label(config.replace(model="sequence", tree_cell="childsum", cell="gru")) == "gru"


def test_predict_and_export_point_elsewhere(listops_task):
    with pytest.raises(UsageError, match=r"^a listops model reads trees, not JSON sequences; "):
        listops_task.predict_input("never-read.jsonl")
    with pytest.raises(ExportError, match=r"^export covers sequence models, not listops models$"):
        listops_task.export_example()
