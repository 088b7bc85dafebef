"""An :class:`Explanation` as rich renderables: the path tree, counters, who got nothing and why."""

from __future__ import annotations

from dataclasses import dataclass, field

from rich.console import Group, RenderableType
from rich.markup import escape
from rich.table import Table
from rich.text import Text
from rich.tree import Tree

from macvlan_sim.datapath.rules import RULES, rule_of
from macvlan_sim.teach.diagnose import Verdict
from macvlan_sim.teach.explain import Explanation


@dataclass
class _Node:
    """A step shared by every copy whose path goes through it; leaves are where copies ended."""

    label: str
    children: dict[str, _Node] = field(default_factory=dict)
    order: list[object] = field(default_factory=list)

    def child(self, label: str) -> _Node:
        node = self.children.get(label)
        if node is None:
            node = self.children[label] = _Node(label)
            self.order.append(node)
        return node


def _step_text(step: str) -> Text:
    rule = rule_of(step)
    if rule is None:
        return Text(step, style="dim" if step.startswith("__netif") else "")
    text = Text()
    text.append(rule, style="bold cyan")
    text.append(step[len(rule) :])
    return text


def _frame_summary(data: bytes) -> str:
    from scapy.layers.l2 import Ether

    try:
        return Ether(data).summary()
    except Exception:  # scapy cannot parse it: show the header bytes instead
        return data[:14].hex()


def path_tree(expl: Explanation) -> Tree:
    out = expl.outcome
    root = _Node("")
    for rec in out.receptions:
        node = root
        for step in rec.path:
            node = node.child(step)
        flags = [rec.pkttype.word]
        if rec.vlan is not None:
            flags.append(f"tag {rec.vlan} out of band")
        if rec.queued:
            flags.append("queued")
        if rec.pass_:
            flags.append(f"pass {rec.pass_}")
        leaf = Text("→ ", style="green")
        leaf.append(rec.point, style="bold green")
        leaf.append(f"  ({', '.join(flags)})")
        node.order.append(leaf)
    for drop in out.drops:
        node = root
        for step in drop.path:
            node = node.child(step)
        leaf = Text("✗ ", style="red")
        leaf.append(f"dropped on {drop.point}", style="bold red")
        leaf.append(f": {drop.reason} ")
        leaf.append(drop.rule, style="bold cyan")
        node.order.append(leaf)
    title = Text(f"frame {out.index} on {out.inject_point}: ", style="bold")
    title.append(_frame_summary(out.injected), style="")
    if out.send != "ok":
        title.append(f"  send failed: {out.send}", style="bold red")
    tree = Tree(title)
    _attach(tree, root)
    return tree


def _attach(tree: Tree, node: _Node) -> None:
    """Steps that follow each other without a branch share one tree node (one per line);
    the tree only branches where the kernel cloned the frame or a copy was seen."""
    for item in node.order:
        if not isinstance(item, _Node):
            tree.add(item)  # type: ignore[arg-type]
            continue
        chain = [item]
        while len(chain[-1].order) == 1 and isinstance(chain[-1].order[0], _Node):
            chain.append(chain[-1].order[0])  # type: ignore[arg-type]
        label = Text("\n").join(_step_text(n.label) for n in chain)
        _attach(tree.add(label), chain[-1])


def counters_table(expl: Explanation) -> Table:
    table = Table(title="counters touched", title_justify="left", box=None, pad_edge=False)
    table.add_column("device", style="bold")
    table.add_column("change")
    for dev, fields in expl.outcome.counters.items():
        if fields:
            table.add_row(dev, "  ".join(f"{k} {v:+d}" for k, v in fields.items()))
    return table


def not_delivered_table(expl: Explanation) -> Table:
    table = Table(title="no copy, and why", title_justify="left", box=None, pad_edge=False)
    table.add_column("device", style="bold")
    table.add_column("rule", style="bold cyan")
    table.add_column("why not")
    for name, skips in expl.not_delivered.items():
        for i, skip in enumerate(skips):
            where = f" (pass {skip.pass_})" if skip.pass_ else ""
            table.add_row(name if i == 0 else "", skip.rule, escape(skip.reason) + where)
    return table


def legend(expl: Explanation) -> Table:
    table = Table(title="rules shown (docs/rules.md)", title_justify="left", box=None)
    table.add_column("id", style="bold cyan")
    table.add_column("kernel function")
    table.add_column("meaning")
    for rule in expl.rules:
        function, meaning = RULES[rule]
        table.add_row(rule, function, meaning)
    return table


def explanation_view(expl: Explanation) -> RenderableType:
    parts: list[RenderableType] = [path_tree(expl), Text()]
    if expl.outcome.counters:
        parts += [counters_table(expl), Text()]
    if expl.not_delivered:
        parts += [not_delivered_table(expl), Text()]
    parts.append(legend(expl))
    return Group(*parts)


_STATUS_STYLE = {
    "problem": "bold red",
    "note": "bold yellow",
    "ok": "bold green",
    "not applicable": "dim",
}


def verdicts_view(verdicts: list[Verdict]) -> RenderableType:
    """One tree per question: the verdict, then the frames that prove it."""
    parts: list[RenderableType] = []
    for v in verdicts:
        title = Text()
        title.append(f"{v.status.upper():>14}  ", style=_STATUS_STYLE.get(v.status, ""))
        title.append(v.question, style="bold")
        tree = Tree(title)
        tree.add(Text(v.finding))
        for ev in v.evidence:
            line = Text(f"sent on {ev.inject}: {ev.outcome}", style="dim")
            if ev.rules:
                line.append("  [" + " ".join(ev.rules) + "]", style="cyan")
            tree.add(line)
        parts.append(tree)
    return Group(*parts)
