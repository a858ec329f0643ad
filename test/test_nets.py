"""The hand-written backward passes against torch autograd, on the same weights and noise."""

import numpy as np
import pytest
import torch

from asym_control.learning.dqn import DQN, DQNConfig
from asym_control.learning.nets import MLP, Adam, relu_
from asym_control.learning.sac import LOG_STD_MAX, LOG_STD_MIN, SAC, SACConfig, TANH_EPS

torch.set_default_dtype(torch.float64)


def torch_mlp(net: MLP, member: int):
    """Make torch parameters (W, b per layer) equal to one ensemble member of `net`."""
    return [torch.tensor(p[member].astype(np.float64), requires_grad=True) for p in net.params]


def torch_forward(params, x, activation):
    h = x
    n = len(params) // 2
    for i in range(n):
        h = h @ params[2 * i] + params[2 * i + 1]
        if i < n - 1:
            h = torch.relu(h) if activation == "relu" else torch.tanh(h)
    return h


@pytest.mark.parametrize("activation", ["relu", "tanh"])
@pytest.mark.parametrize("ensemble", [1, 2])
# the second: a critic's one-unit head, and a batch past relu_'s switch of loops
@pytest.mark.parametrize("sizes, batch", [([5, 7, 6, 3], 11), ([5, 70, 64, 1], 80)])
def test_mlp_backward_matches_autograd(activation, ensemble, sizes, batch):
    rng = np.random.default_rng(0)
    net = MLP(sizes, activation, ensemble=ensemble, rng=rng)
    x = rng.standard_normal((batch, sizes[0])).astype(np.float32)
    dout = rng.standard_normal((ensemble, batch, sizes[-1])).astype(np.float32)
    out, cache = net.forward(x, keep=True)
    dx = net.backward(cache, dout, need_input_grad=True)
    for k in range(ensemble):
        params = torch_mlp(net, k)
        xt = torch.tensor(x.astype(np.float64), requires_grad=True)
        y = torch_forward(params, xt, activation)
        np.testing.assert_allclose(out[k], y.detach().numpy(), rtol=1e-5, atol=1e-5)
        (y * torch.tensor(dout[k].astype(np.float64))).sum().backward()
        for p_np, p_t in zip(net.grads, params):
            np.testing.assert_allclose(p_np[k], p_t.grad.numpy(), rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(dx[k], xt.grad.numpy(), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(net.input_grad(cache, dout), dx, rtol=1e-6)


@pytest.mark.parametrize("shape", [(3, 5), (2, 256, 64)])   # both of relu_'s loops
def test_relu_in_place_is_numpys_maximum_bit_for_bit(shape):
    rng = np.random.default_rng(0)
    z = rng.standard_normal(shape).astype(np.float32)
    z.flat[:4] = [-0.0, np.nan, -np.inf, np.inf]
    want = np.maximum(z, 0.0)
    relu_(z)
    assert z.dtype == np.float32 and np.array_equal(z.view(np.uint32), want.view(np.uint32))


def test_one_unit_layer_backward_is_the_matmul_bit_for_bit():
    rng = np.random.default_rng(1)
    net = MLP([6, 9, 1], ensemble=2, rng=rng)
    _, cache = net.forward(rng.standard_normal((40, 6)).astype(np.float32), keep=True)
    dout = rng.standard_normal((2, 40, 1)).astype(np.float32)
    w = net.params[2]
    h = cache[1]
    want = np.matmul(np.matmul(dout, np.swapaxes(w, -1, -2)) * (h > 0), np.swapaxes(net.params[0], -1, -2))
    assert np.array_equal(net.input_grad(cache, dout), want)


def test_adam_matches_torch():
    rng = np.random.default_rng(1)
    theta = rng.standard_normal(10).astype(np.float32)
    tt = torch.tensor(theta.astype(np.float64), requires_grad=True)
    opt_t = torch.optim.Adam([tt], lr=1e-2)
    opt = Adam(theta, lr=1e-2)
    for _ in range(5):
        g = rng.standard_normal(10).astype(np.float32)
        opt.step(g)
        tt.grad = torch.tensor(g.astype(np.float64))
        opt_t.step()
    np.testing.assert_allclose(theta, tt.detach().numpy(), rtol=1e-5, atol=1e-6)


def _torch_sac_step(sac: SAC, batch, noise, alpha):
    """SB3's SAC losses in torch on copies of `sac`'s parameters; returns the gradients."""
    obs, act, rew, next_obs, term = (torch.tensor(b.astype(np.float64)) for b in batch)
    A = sac.act_dim
    actor = torch_mlp(sac.actor.net, 0)
    critics = [torch_mlp(sac.critic, k) for k in range(2)]
    targets = [torch_mlp(sac.critic_target, k) for k in range(2)]

    def sample(o, eps):
        out = torch_forward(actor, o, sac.config.activation)
        mean, log_std = out[:, :A], torch.clamp(out[:, A:], LOG_STD_MIN, LOG_STD_MAX)
        u = mean + log_std.exp() * eps
        a = torch.tanh(u)
        logp = torch.distributions.Normal(mean, log_std.exp()).log_prob(u).sum(1) \
            - torch.log(1 - a ** 2 + TANH_EPS).sum(1)
        return a, logp

    eps = torch.tensor(noise.astype(np.float64))
    with torch.no_grad():
        a2, logp2 = sample(next_obs, eps[1])
        q2 = torch.stack([torch_forward(t, torch.cat([next_obs, a2], 1), "relu")[:, 0] for t in targets])
        y = rew + sac.config.gamma * (1 - term) * (q2.min(0).values - alpha * logp2)
    q = [torch_forward(c, torch.cat([obs, act], 1), "relu")[:, 0] for c in critics]
    critic_loss = 0.5 * sum(((qk - y) ** 2).mean() for qk in q)
    critic_loss.backward()
    critic_grads = [[p.grad.numpy().copy() for p in c] for c in critics]
    return actor, critics, sample, eps, obs, critic_grads


def test_sac_update_gradients_match_autograd():
    """Critic and actor gradients of one SAC update equal SB3's losses under torch autograd."""
    rng = np.random.default_rng(2)
    obs_dim, act_dim, B = 5, 3, 16
    sac = SAC(obs_dim, act_dim, SACConfig(units=8, batch_size=B), rng)
    sac.critic_target.theta += rng.standard_normal(sac.critic_target.theta.shape).astype(np.float32) * 0.1
    batch = (rng.standard_normal((B, obs_dim)).astype(np.float32),
             rng.uniform(-1, 1, (B, act_dim)).astype(np.float32),
             rng.standard_normal(B).astype(np.float32),
             rng.standard_normal((B, obs_dim)).astype(np.float32),
             (rng.random(B) < 0.3).astype(np.float32))
    before_actor = sac.actor.net.theta.copy()
    before_critic = sac.critic.theta.copy()
    before_target = sac.critic_target.theta.copy()
    alpha = sac.alpha
    update_rng = np.random.default_rng(3)
    noise = np.random.default_rng(3).standard_normal((2, B, act_dim), dtype=np.float32)

    # the reference runs on the pre-update parameters
    ref = SAC(obs_dim, act_dim, SACConfig(units=8, batch_size=B), np.random.default_rng(9))
    ref.actor.net.theta[...] = before_actor
    ref.critic.theta[...] = before_critic
    ref.critic_target.theta[...] = before_target
    actor, critics, sample, eps, obs_t, critic_grads = _torch_sac_step(ref, batch, noise, alpha)

    sac.update(batch, update_rng)
    # critic gradients (computed before its Adam step, which we recompute from the saved grad)
    for k in range(2):
        for p_np, g_t in zip(sac.critic.grads, critic_grads[k]):
            np.testing.assert_allclose(p_np[k], g_t, rtol=1e-3, atol=1e-5)

    # actor gradient goes through the *updated* critics (SB3 order)
    updated = [torch_mlp(sac.critic, k) for k in range(2)]
    a_pi, logp = sample(obs_t, eps[0])
    q_pi = torch.stack([torch_forward(c, torch.cat([obs_t, a_pi], 1), "relu")[:, 0] for c in updated])
    actor_loss = (alpha * logp - q_pi.min(0).values).mean()
    actor_loss.backward()
    for p_np, p_t in zip(sac.actor.net.grads, actor):
        np.testing.assert_allclose(p_np[0], p_t.grad.numpy(), rtol=1e-3, atol=1e-5)
    # entropy coefficient: log_alpha moved against the sign of mean(log pi + target_entropy)
    with torch.no_grad():
        g_alpha = -(logp + sac.target_entropy).mean().item()
    assert np.sign(-sac.log_alpha[0]) == np.sign(g_alpha)


def macro_batch(rng, B: int):
    """Return B random macro transitions of a 4-dimensional task: obs, option, reward, next, terminated, k."""
    obs = rng.standard_normal((B, 4)).astype(np.float32)
    nxt = rng.standard_normal((B, 4)).astype(np.float32)
    option = rng.integers(0, 2, B)
    reward = rng.standard_normal(B).astype(np.float32)
    term = (rng.random(B) < 0.5).astype(np.float32)
    return obs, option, reward, nxt, term, rng.integers(1, 6, B)


def test_dqn_double_q_target_and_gradient():
    rng = np.random.default_rng(4)
    cfg = DQNConfig(max_grad_norm=1e9)
    dqn = DQN(4, cfg, rng)
    dqn.q_target.theta += 0.3
    B = 8
    obs, option, reward, nxt, term, length = macro_batch(rng, B)
    q_params = torch_mlp(dqn.q, 0)
    t_params = torch_mlp(dqn.q_target, 0)
    with torch.no_grad():
        best = torch_forward(q_params, torch.tensor(nxt, dtype=torch.float64), "tanh").argmax(1)
        qn = torch_forward(t_params, torch.tensor(nxt, dtype=torch.float64), "tanh")
        y = torch.tensor(reward, dtype=torch.float64) + 0.99 ** torch.tensor(length, dtype=torch.float64) \
            * (1 - torch.tensor(term, dtype=torch.float64)) * qn[torch.arange(B), best]
    q = torch_forward(q_params, torch.tensor(obs, dtype=torch.float64), "tanh")[torch.arange(B), option]
    torch.nn.functional.smooth_l1_loss(q, y).backward()
    dqn.update((obs, option, reward, nxt, term, length))
    for p_np, p_t in zip(dqn.q.grads, q_params):
        np.testing.assert_allclose(p_np[0], p_t.grad.numpy(), rtol=1e-4, atol=1e-6)


def test_dqn_dueling_gradient_and_fold():
    """The dueling master's loss gradient against autograd; the network that acts is its exact fold."""
    rng = np.random.default_rng(5)
    cfg = DQNConfig(max_grad_norm=1e9, dueling=True)
    dqn = DQN(4, cfg, rng)
    B = 8
    obs, option, reward, nxt, term, length = macro_batch(rng, B)
    d_params = torch_mlp(dqn.net, 0)
    x = torch.tensor(obs, dtype=torch.float64)

    def q_of(params, x):
        out = torch_forward(params, x, "tanh")
        return out[:, :1] + out[:, 1:] - out[:, 1:].mean(1, keepdim=True)

    # the folded network computes V + A - mean A (to float32 rounding)
    np.testing.assert_allclose(dqn.q.forward(obs)[0], q_of(d_params, x).detach().numpy(), rtol=1e-5, atol=1e-5)
    y = torch.tensor(dqn.targets(reward, nxt, term, length), dtype=torch.float64)
    q = q_of(d_params, x)[torch.arange(B), option]
    torch.nn.functional.smooth_l1_loss(q, y).backward()
    dqn.update((obs, option, reward, nxt, term, length))
    for p_np, p_t in zip(dqn.net.grads, d_params):
        np.testing.assert_allclose(p_np[0], p_t.grad.numpy(), rtol=1e-4, atol=1e-6)
    # after the step the acting network is still the fold of the trained one, and a state
    # round trip gives back the same master
    with torch.no_grad():
        after = q_of(torch_mlp(dqn.net, 0), x).numpy()
    np.testing.assert_allclose(dqn.q.forward(obs)[0], after, rtol=1e-5, atol=1e-5)
    other = DQN(4, cfg, np.random.default_rng(9))
    other.load_state(dqn.state("m"), "m")
    np.testing.assert_array_equal(other.q.theta, dqn.q.theta)
    np.testing.assert_array_equal(other.net.theta, dqn.net.theta)
    assert set(dqn.state("m", with_training=False)) == {"m.q.theta"}   # deployed: the plain master
