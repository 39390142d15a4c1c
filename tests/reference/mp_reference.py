"""High-precision mpmath reference for the replica expectations (THEORY.md §3-4).

Written independently of replica's vectorized code: generic Gaussian conditioning with
mpmath matrices, the soft-threshold moments from mp.erfc, and adaptive mp.quad over h1
with breakpoints at ±λ1 and at the crossings of ±λ2.
"""

from __future__ import annotations

import mpmath as mp

mp.mp.dps = 30


def gauss_expect(f, mu, tau, breaks=()):
    """E[f(h)], h ~ N(mu, tau²), by mp.quad on mu ± 40 tau split at ``breaks`` (mass beyond: 1e-349)."""
    mu, tau = mp.mpf(mu), mp.mpf(tau)
    lo, hi = mu - 40 * tau, mu + 40 * tau
    pts = [lo] + sorted(mp.mpf(b) for b in breaks if lo < b < hi) + [hi]
    return mp.quad(lambda h: f(h) * mp.npdf(h, mu, tau), pts)


def soft_moments(mu, tau, lam):
    """(P, E soft, E soft²) for h ~ N(mu, tau²), by quadrature (slow, reference only)."""
    lam = mp.mpf(lam)
    soft = lambda h: h - lam if h > lam else (h + lam if h < -lam else mp.mpf(0))  # noqa: E731
    br = (-lam, lam)
    return (
        gauss_expect(lambda h: 1 if abs(h) > lam else 0, mu, tau, br),
        gauss_expect(soft, mu, tau, br),
        gauss_expect(lambda h: soft(h) ** 2, mu, tau, br),
    )


def _soft_closed(mu, tau, lam):
    """Closed-form (P, E soft, E soft²), written from scratch in mpmath."""
    if lam == mp.inf:
        return mp.mpf(0), mp.mpf(0), mp.mpf(0)
    if tau == 0:
        x = mu - lam if mu > lam else (mu + lam if mu < -lam else mp.mpf(0))
        return mp.mpf(1 if x != 0 else 0), x, x * x
    out = []
    for sign in (1, -1):  # side h > lam, then -h > lam
        m = sign * mu - lam
        z = m / tau
        Q = mp.erfc(-z / mp.sqrt(2)) / 2
        f = tau * mp.npdf(z)
        out.append((Q, sign * (m * Q + f), (m * m + tau * tau) * Q + m * f))
    return out[0][0] + out[1][0], out[0][1] + out[1][1], out[0][2] + out[1][2]


def stage1(setting, lam1, chi1, chi1_hat):
    """Stage-1 closure (χ1, Q1, m1) by mp.quad over each component's h1."""
    K = setting.K
    a = [mp.mpf(setting.alphas[k]) if setting.pretrain[k] else mp.mpf(0) for k in range(K)]
    Q_hat = sum(a) / (1 + mp.mpf(chi1))
    m_hat = [ak / (1 + mp.mpf(chi1)) for ak in a]
    chi, Q, m = mp.mpf(0), mp.mpf(0), [mp.mpf(0)] * K
    for c in range(setting.n_components):
        w = mp.mpf(setting.weights[c])
        if w == 0:
            continue
        S = mp.matrix(setting.covs[c].tolist())
        mu = [mp.mpf(x) for x in setting.means[c]]
        mean = sum(m_hat[k] * mu[k] for k in range(K))
        cov_r = [sum(S[k, j] * m_hat[j] for j in range(K)) for k in range(K)]
        var = sum(cov_r[k] * m_hat[k] for k in range(K)) + mp.mpf(chi1_hat)
        sd = mp.sqrt(var)
        dens = lambda h: mp.npdf(h, mean, sd)  # noqa: E731
        x = lambda h: (h - lam1 if h > lam1 else (h + lam1 if h < -lam1 else 0)) / Q_hat  # noqa: E731
        pts = [-mp.inf, -lam1, lam1, mp.inf]
        chi += w * mp.quad(lambda h: dens(h) * (1 if abs(h) > lam1 else 0), pts) / Q_hat
        Q += w * mp.quad(lambda h: dens(h) * x(h) ** 2, pts)
        for k in range(K):
            # E[r_k | h1] = mu_k + cov_r_k (h1 − mean)/var
            m[k] += w * mp.quad(lambda h: dens(h) * x(h) * (mu[k] + cov_r[k] * (h - mean) / var), pts)
    return chi, Q, m


def stage2(setting, hp, s1, conj):
    """Stage-2 closure integrals (χ2, Q2, m2, Q12, E[ξ1 x2]) at given stage-1 state and conjugates."""
    lam1, lam2, dlam = mp.mpf(hp.lam1), mp.mpf(hp.lam2), mp.mpf(hp.delta_lam)
    Q1h, Q2h = mp.mpf(s1.Q1_hat), mp.mpf(conj.Q2_hat)
    m2h, m21h = mp.mpf(conj.m2_hat), mp.mpf(conj.m21_hat)
    c1h, c2h, c12h = mp.mpf(s1.chi1_hat), mp.mpf(conj.chi2_hat), mp.mpf(conj.chi12_hat)
    m1h = [mp.mpf(v) for v in s1.m1_hat]
    K = setting.K
    tot = [mp.mpf(0)] * 5
    for c in range(setting.n_components):
        w = mp.mpf(setting.weights[c])
        if w == 0:
            continue
        S = [[mp.mpf(setting.covs[c][i][j]) for j in range(K)] for i in range(K)]
        mu = [mp.mpf(x) for x in setting.means[c]]
        # joint Gaussian of (r_1..r_K, ξ1, ξ2); linear maps: h1 = m̂1·r + ξ1, u = m̂2 r1 + ξ2
        n = K + 2
        Sig = mp.zeros(n, n)
        for i in range(K):
            for j in range(K):
                Sig[i, j] = S[i][j]
        Sig[K, K], Sig[K + 1, K + 1], Sig[K, K + 1], Sig[K + 1, K] = c1h, c2h, c12h, c12h
        mean = mp.matrix(mu + [0, 0])
        L_h1 = mp.matrix([m1h + [1, 0]])
        L_u = mp.matrix([[m2h] + [0] * (K - 1) + [0, 1]])
        L_r1 = mp.matrix([[1] + [0] * (K - 1) + [0, 0]])
        L_xi1 = mp.matrix([[0] * K + [1, 0]])
        cov = lambda A, B: (A * Sig * B.T)[0, 0]  # noqa: E731
        avg = lambda A: (A * mean)[0, 0]  # noqa: E731
        var_h1 = cov(L_h1, L_h1)
        a, s = avg(L_h1), mp.sqrt(var_h1)
        b_u = cov(L_u, L_h1) / var_h1
        tau = mp.sqrt(max(cov(L_u, L_u) - cov(L_u, L_h1) ** 2 / var_h1, 0))

        def cond(L):
            # E[L | h1] = avg(L) + beta (h1 − a); Cov(L, u | h1)
            beta = cov(L, L_h1) / var_h1
            return beta, cov(L, L_u) - cov(L, L_h1) * cov(L_u, L_h1) / var_h1

        b_r1, c_r1 = cond(L_r1)
        b_xi, c_xi = cond(L_xi1)

        memo = {}  # the five integrals share their nodes: each h1 is evaluated once

        def parts(h1):
            if h1 not in memo:
                memo[h1] = _parts(h1)
            return memo[h1]

        def _parts(h1):
            x1 = (h1 - lam1 if h1 > lam1 else (h1 + lam1 if h1 < -lam1 else 0)) / Q1h
            lam = lam2 if abs(h1) > lam1 else lam2 + dlam
            mean_h2 = avg(L_u) + b_u * (h1 - a) + m21h * x1
            P, S1, S2 = _soft_closed(mean_h2, tau, lam)
            Er1 = avg(L_r1) + b_r1 * (h1 - a)
            Exi = b_xi * (h1 - a)
            return [P, S2, Er1 * S1 + c_r1 * P, x1 * S1, Exi * S1 + c_xi * P]

        # breakpoints: ±λ1 and where mean_h2 = ±λ2,eff on each piece
        pts = {-lam1, lam1}
        for lo, hi, sg in ((-mp.inf, -lam1, -1), (-lam1, lam1, 0), (lam1, mp.inf, 1)):
            lam = lam2 if sg else lam2 + dlam
            if lam == mp.inf:
                continue
            slope = b_u + (m21h / Q1h if sg else 0)
            const = avg(L_u) - b_u * a + (-m21h * lam1 * sg / Q1h if sg else 0)
            if slope != 0:
                for t in (lam, -lam):
                    hk = (t - const) / slope
                    if lo < hk < hi:
                        pts.add(hk)
        grid = sorted(pts)
        span = 12 * s
        grid = [a - span] + [g for g in grid if a - span < g < a + span] + [a + span]
        for i in range(5):
            val = mp.quad(lambda h: mp.npdf(h, a, s) * parts(h)[i], grid)
            tot[i] += w * val
    chi2, Q2, m2, Q12, E = tot
    return {"chi2": chi2 / Q2h, "Q2": Q2 / Q2h**2, "m2": m2 / Q2h, "Q12": Q12 / Q2h, "E_xi1_x2": E / Q2h}
