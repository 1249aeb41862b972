"""`einsum` by pairwise contraction: operands are aligned on a shared letter order, multiplied
with broadcasting, and summed over letters that are not in the output. Two-operand
contractions go through batched matmul. Supports `...`, implicit output, repeated letters
within an operand (diagonals) and any number of operands."""
from . import _tensor as T


def _parse(equation, operands):
    eq = equation.replace(" ", "")
    lhs, arrow, rhs = eq.partition("->")
    terms = lhs.split(",")
    if len(terms) != len(operands):
        raise RuntimeError(f"einsum(): more operands were provided than specified in the equation" if len(operands) > len(terms) else "einsum(): fewer operands were provided than specified in the equation")
    ell_dims = 0
    parsed = []
    for term, op in zip(terms, operands):
        n_letters = len(term.replace("...", ""))
        if "..." in term:
            e = op.ndim - n_letters
            if e < 0:
                raise RuntimeError(f"einsum(): the number of subscripts in the equation ({n_letters}) is more than the number of dimensions ({op.ndim}) for operand")
            ell_dims = max(ell_dims, e)
        elif n_letters != op.ndim:
            raise RuntimeError(f"einsum(): the number of subscripts in the equation ({n_letters}) does not match the number of dimensions ({op.ndim}) for operand and no ellipsis was given")
        parsed.append(term)
    ell = [chr(0x100 + i) for i in range(ell_dims)]
    expanded = []
    for term, op in zip(parsed, operands):
        if "..." in term:
            e = op.ndim - len(term.replace("...", ""))
            term = term.replace("...", "".join(ell[ell_dims - e:]))
        expanded.append(term)
    if arrow:
        out = rhs.replace("...", "".join(ell))
    else:
        letters = "".join(expanded)
        out = "".join(ell) + "".join(sorted(c for c in set(letters) if letters.count(c) == 1 and c not in ell))
    for c in out:
        if not any(c in t for t in expanded):
            raise RuntimeError(f"einsum(): output subscript {c} does not appear in the equation for any input operand")
    return expanded, out


def _diagonal(op, term):
    """Takes diagonals for letters repeated within one operand."""
    while True:
        dup = next((c for c in term if term.count(c) > 1), None)
        if dup is None:
            return op, term
        i = term.index(dup)
        j = term.index(dup, i + 1)
        if op.shape[i] != op.shape[j]:
            raise RuntimeError(f"einsum(): subscript {dup} is repeated for operand but the sizes don't match, {op.shape[i]} != {op.shape[j]}")
        op = T.diagonal(op, 0, i, j)
        term = term[:i] + term[i + 1:j] + term[j + 1:] + dup


def _contract(a, ta, b, tb, keep):
    """Contracts a (letters ta) with b (letters tb), keeping letters in `keep`."""
    batch = [c for c in ta if c in tb and c in keep]
    summed = [c for c in ta if c in tb and c not in keep]
    a_only = [c for c in ta if c not in tb]
    b_only = [c for c in tb if c not in ta]
    # Sum away letters that only one side has and nobody needs.
    for c in [c for c in a_only if c not in keep]:
        a = a.sum(ta.index(c))
        ta = ta.replace(c, "")
    for c in [c for c in b_only if c not in keep]:
        b = b.sum(tb.index(c))
        tb = tb.replace(c, "")
    a_only = [c for c in ta if c not in tb]
    b_only = [c for c in tb if c not in ta]
    size = {c: a.shape[ta.index(c)] for c in ta}
    size.update({c: b.shape[tb.index(c)] for c in tb if c not in size or size[c] == 1})
    a = a.permute([ta.index(c) for c in batch + a_only + summed])
    b = b.permute([tb.index(c) for c in batch + summed + b_only])

    def prod(cs):
        n = 1
        for c in cs:
            n *= size[c]
        return n

    bs = [max(a.shape[i], b.shape[i]) for i in range(len(batch))]
    a = a.expand(bs + list(a.shape[len(batch):])).reshape(bs + [prod(a_only), prod(summed)])
    b = b.expand(bs + list(b.shape[len(batch):])).reshape(bs + [prod(summed), prod(b_only)])
    r = T.matmul(a, b).reshape(bs + [size[c] for c in a_only] + [size[c] for c in b_only])
    return r, "".join(batch + a_only + b_only)


def einsum(equation, *operands):
    terms, out = _parse(equation, operands)
    ops = []
    for op, term in zip(operands, terms):
        op, term = _diagonal(op, term)
        ops.append((op, term))
    a, ta = ops[0]
    for i in range(1, len(ops)):
        b, tb = ops[i]
        later = out + "".join(t for _, t in ops[i + 1:])
        a, ta = _contract(a, ta, b, tb, set(later))
    for c in [c for c in ta if c not in out]:
        a = a.sum(ta.index(c))
        ta = ta.replace(c, "")
    if len(ta) != len(out):
        raise RuntimeError(f"einsum(): invalid equation {equation!r}")
    return a.permute([ta.index(c) for c in out]) if ta != out else a
