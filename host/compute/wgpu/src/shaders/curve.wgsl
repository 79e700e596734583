// BN254 G1 (y^2 = x^3 + 3 over Fq) in homogeneous projective coordinates (X : Y : Z), with the
// complete addition law of Renes, Costello and Batina (2016, Algorithm 7, a = 0): one formula for
// every pair of inputs (equal, opposite, identity), so no thread of a warp takes its own branch.
// `ONE` (1 in Montgomery form) comes with the field constants.

struct Pt {
    x: Fe,
    y: Fe,
    z: Fe,
}

fn pt_identity() -> Pt {
    return Pt(fe_zero(), ONE, fe_zero());
}

// 3b = 9 for b = 3, as 8x + x: three doublings and an addition instead of a multiplication.
fn fe_mul_b3(a: Fe) -> Fe {
    return fe_add(fe_double(fe_double(fe_double(a))), a);
}

fn pt_add(p: Pt, q: Pt) -> Pt {
    var t0 = fe_mul(p.x, q.x);
    var t1 = fe_mul(p.y, q.y);
    var t2 = fe_mul(p.z, q.z);
    var t3 = fe_add(p.x, p.y);
    var t4 = fe_add(q.x, q.y);
    t3 = fe_mul(t3, t4);
    t4 = fe_add(t0, t1);
    t3 = fe_sub(t3, t4);
    t4 = fe_add(p.y, p.z);
    var x3 = fe_add(q.y, q.z);
    t4 = fe_mul(t4, x3);
    x3 = fe_add(t1, t2);
    t4 = fe_sub(t4, x3);
    x3 = fe_add(p.x, p.z);
    var y3 = fe_add(q.x, q.z);
    x3 = fe_mul(x3, y3);
    y3 = fe_add(t0, t2);
    y3 = fe_sub(x3, y3);
    x3 = fe_add(t0, t0);
    t0 = fe_add(x3, t0);
    t2 = fe_mul_b3(t2);
    var z3 = fe_add(t1, t2);
    t1 = fe_sub(t1, t2);
    y3 = fe_mul_b3(y3);
    x3 = fe_mul(t4, y3);
    t2 = fe_mul(t3, t1);
    x3 = fe_sub(t2, x3);
    y3 = fe_mul(y3, t0);
    t1 = fe_mul(t1, z3);
    y3 = fe_add(t1, y3);
    t0 = fe_mul(t0, t3);
    z3 = fe_mul(z3, t4);
    z3 = fe_add(z3, t0);
    return Pt(x3, y3, z3);
}
