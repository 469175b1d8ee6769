# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% tags=["remove-cell"]
# Colab (or any Jupyter without airlib): install airlib from its repository, dependencies from PyPI.
import importlib.util, os, subprocess, sys  # noqa: E401
if importlib.util.find_spec("airlib") is None:
    repo = os.path.abspath("airlib-repo")
    if not os.path.isdir(repo):
        url = os.environ.get("AIRLIB_REPOSITORY", "https://github.com/airlib/airlib")
        subprocess.run(["git", "clone", "--depth", "1", url, repo], check=True)
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "-e", repo], check=True)
    sys.path.insert(0, repo)
    os.environ.setdefault("MUJOCO_GL", "egl")

# %% [markdown]
# # 1. The variable-length ELBO and its gradient estimators
#
# AIR infers *how many* objects a scene holds together with what and where they are. This chapter
# builds the objective that makes this possible, the variational lower bound of Sec. I over a latent
# space whose dimension is itself random, and the gradient estimators that optimise it: pathwise
# gradients for continuous latents and score-function gradients, with the variance reduction of
# NVIL {cite}`mnih2014nvil`, for the discrete presence variables. Every claim is checked on a toy
# model small enough that the true answers (the evidence $\log p(\mathbf{x})$, the posterior over the
# number of objects, the ELBO and its exact gradient) follow from enumeration and quadrature.
#
# The estimators live in `airlib.estimators`, which every later chapter uses; the toy lives in
# `airlib.toy`. The chapter's numbers (the fits, the gradient checks, the variances, the training runs and
# the sweep over priors) are the recorded study `toy-estimators` (`python -m airlib evaluate toy-estimators`),
# computed by `airlib.evaluations.toy` from one seeded random stream; its figures are drawn by
# `airlib.figures.elbo`.

# %% tags=["parameters"]
profile = "paper"

# %% [markdown]
# **What this chapter reproduces**, from the committed records (every chapter's rows are on the {doc}`first page <00_intro>`):

# %% tags=["remove-input"]
from IPython.display import HTML, display  # noqa: E402

from airlib import claims  # noqa: E402

display(HTML(claims.html(claims.table(profile, chapter=1))))

# %%
import inspect
import time

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns
import torch

from airlib import estimators as est
from airlib import evaluations, experiments, toy
from airlib.evaluations import toy as study
from airlib.figures import elbo as figures

started = time.time()
record, tensors = evaluations.load("toy-estimators", profile)  # the committed study (paper), or made now
metrics, cfg = record["metrics"], toy.study(profile)
sns.set_theme(context="notebook", style="whitegrid")
display(experiments.settings({"study": cfg}))

# %% [markdown]
# ## 1.1 Scenes with a variable number of objects, Eq. (1)
#
# AIR takes a Bayesian view of scene understanding: an image $\mathbf{x}$ is explained by a scene
# description $\mathbf{z}$ under a model $p^x_\theta(\mathbf{x}\mid\mathbf{z})\,p^z_\theta(\mathbf{z})$,
# and understanding the image means computing the posterior $p(\mathbf{z}\mid\mathbf{x})$. A scene is
# made of objects, each described by a group of variables $\mathbf{z}^i$ (its appearance
# $\mathbf{z}^i_{\text{what}}$ and pose $\mathbf{z}^i_{\text{where}}$), and the number $n$ of objects
# changes from scene to scene. Sec. I therefore considers models of the form
#
# $$
# p_\theta(\mathbf{x}) = \sum_{n=1}^{N} p_N(n) \int p^z_\theta(\mathbf{z}\mid n)\,
#     p^x_\theta(\mathbf{x}\mid\mathbf{z})\, d\mathbf{z}, \qquad (1)
# $$
#
# read as a recipe: draw a count $n \le N$ from $p_N$, draw $n$ object descriptions
# $\mathbf{z} = (\mathbf{z}^1, \dots, \mathbf{z}^n)$, independent under the prior,
# $p^z_\theta(\mathbf{z}\mid n) = \prod_{i=1}^n p^z_\theta(\mathbf{z}^i)$, and render them. (We let the
# sum start at $n = 0$, as the multi-MNIST experiments of Sec. II do: a scene may be empty.) Inference
# in this model has two difficulties the paper names. It is **trans-dimensional**: the posterior lives
# on a union of spaces of different dimension, one per $n$, so it must weigh
# $p_N(n\mid\mathbf{x}) = \int p(\mathbf{z}, n\mid\mathbf{x})\,d\mathbf{z}$ for every $n$. And it is
# **symmetric**: objects are exchangeable, so any permutation of an explanation explains the image
# equally well.
#
# **The toy.** The smallest model of this form that keeps both difficulties is a scene of one pixel.
# Each of $n \le N = 3$ objects adds a brightness $z^i$ to it, and the pixel is seen through noise:
#
# $$
# p_N(n) \propto \rho^n, \qquad z^i \sim \mathcal{N}(\mu, s^2), \qquad
# x \mid \mathbf{z}, n \sim \mathcal{N}\Big(\sum_{i \le n} z^i,\ \sigma^2\Big).
# $$
#
# The integral in Eq. (1) is Gaussian, $p(x\mid n) = \mathcal{N}(x;\ n\mu,\ n s^2 + \sigma^2)$, so
# $\log p(x)$ and the posterior over counts $p(n\mid x)$ are exact sums over $n = 0, \dots, 3$. A prior
# with $\rho < 1$ favours fewer objects, like the geometric prior of the paper's Fig. 2.

# %% tags=["hide-output"]
print(inspect.getsource(toy.Scene))

# %%
scene = toy.Scene()  # rho = 0.5: the model's prior favours fewer objects
x_data, n_data = tensors["x"], tensors["n"]  # the data, toy.Scene(rho=1.0).sample: 0 to 3 objects equally often
print(f"{cfg.data} pixels; true counts {n_data.bincount(minlength=4).numpy()} for n = 0..3")

# %% tags=["hide-input"]
figures.model(scene, x_data, study.grid())
plt.show()

# %% [markdown]
# Between the bumps the count is genuinely uncertain, and the bumps widen with $n$: each extra object
# adds variance $s^2$, so a model with more objects spreads its probability over more images and
# pays for it at any one image. This is the Bayesian Occam's razor that Sec. II relies on, already
# visible here before any learning (Sec. 1.8 returns to it).
#
# ## 1.2 Inference one object at a time: the unary code, Eq. (2)
#
# AIR learns an amortised approximation $q_\phi(\mathbf{z}, n\mid\mathbf{x})$ that minimises
# $\mathrm{KL}[q_\phi(\mathbf{z}, n\mid\mathbf{x})\,\|\,p_\theta(\mathbf{z}, n\mid\mathbf{x})]$. To reason
# about $n$ one step at a time, the paper writes it as a variable-length vector $\mathbf{z}_{\text{pres}}$
# in a **unary code**: $n$ ones followed by one zero ($n = 2$ is $(1, 1, 0)$). The two representations
# are equivalent (the code is a bijection, with no trailing zero when $n = N$), but the unary one
# turns the choice of $n$ into a sequence of binary decisions, "is there another object?", each of
# which can look at what the earlier steps found. By the chain rule,
#
# $$
# q_\phi(\mathbf{z}, \mathbf{z}_{\text{pres}}\mid\mathbf{x}) = \prod_{i=1}^{n}
#   q_\phi(\mathbf{z}^i, z^i_{\text{pres}} = 1\mid\mathbf{x}, \mathbf{z}^{1:i-1})
#   \times q_\phi(z^{n+1}_{\text{pres}} = 0\mid\mathbf{z}^{1:n}, \mathbf{x}). \qquad (2)
# $$
#
# $z_{\text{pres}}$ is an interruption variable: a recurrent network runs step after step while it
# outputs $z^i_{\text{pres}} = 1$ and stops at the first $0$. Two masks follow, and every later
# chapter uses them. Step $i$ **runs** if all earlier $z_{\text{pres}}$ are 1 (`step_mask`); only then
# does its $\log q(z^i_{\text{pres}})$ count. Step $i$ **describes an object** if, in addition,
# $z^i_{\text{pres}} = 1$ (`object_mask`); only then do its $\mathbf{z}^i$ terms count. Steps after the
# first zero contribute nothing to the bound or to any gradient (the tests check this).

# %%
probs = torch.tensor(study.DEMO_PROBS).expand(6, 3)  # q(z_pres^i = 1 | ...) for six images
z_pres = tensors["demo.z_pres"]  # (6, 3): ones, then zeros; the study's est.sample_presence(probs=probs)
log_q = est.presence_log_prob(z_pres, probs=probs)  # (6, 3), zero after the first zero
pd.DataFrame({"z_pres": z_pres.int().tolist(), "step_mask": est.step_mask(z_pres).int().tolist(),
              "object_mask": est.object_mask(z_pres).int().tolist(),
              "n": est.count(z_pres).int().tolist(),
              "q(n|x) = exp(sum log q)": log_q.sum(1).exp().numpy().round(4)})

# %% [markdown]
# With probabilities $0.9, 0.7, 0.4$, $q(n{=}0) = 0.1$, $q(1) = 0.9 \cdot 0.3 = 0.27$,
# $q(2) = 0.9 \cdot 0.7 \cdot 0.6 = 0.378$ and $q(3) = 0.9 \cdot 0.7 \cdot 0.4 = 0.252$, as the table reads.
#
# **Why step $i$ must condition on $\mathbf{z}^{1:i-1}$.** Under the posterior the objects are coupled:
# in the toy, once step 1 has claimed a brightness $z^1$, the remaining objects must explain
# $x - z^1$, and whether another object is needed at all depends on what is left. A network that sees
# only $\mathbf{x}$ at every step cannot know what has been explained; it would explain the same object
# twice or stop at the wrong time. The toy's inference network therefore feeds step $i$ the
# *residual* $r^i = x - \sum_{j<i} z^j$ (the role of the recurrent state $\mathbf{h}^{i-1}$ in Sec. I-B,
# and literally DAIR's error canvas), and outputs
# $q(z^i_{\text{pres}} = 1) = \operatorname{sigmoid}(a_i + b_i r^i + c_i (r^i)^2)$ and
# $q(z^i) = \mathcal{N}(\alpha_i r^i + \beta_i, e^{2\gamma_i})$:

# %% tags=["hide-output"]
print(inspect.getsource(toy._step))

# %% [markdown]
# To measure what the conditioning buys, we fit this network and a *blind* one, whose steps all see
# $x$ instead of $r^i$, to the **exact** ELBO (quadrature, Sec. 1.3; Adam, then L-BFGS, `toy.fit_exact`),
# and compare what remains of the gap $\log p(x) - \mathcal{L} = \mathrm{KL}[q\,\|\,p(\cdot\mid x)]$ at
# each pixel. The objective is not concave in the parameters, so these are good local optima, the
# best we know for each family.

# %%
gap = metrics["gap"]  # both fits start from toy.init_params(scene.N, cfg.seed, spread=0.3), as every fit below
print(f"mean KL[q || p(.|x)] over the data: steps see the residual {gap['residual']:.3f} nats, "
      f"steps see only x {gap['blind']:.3f} nats")

# %% tags=["hide-input"]
figures.posterior_gaps(x_data, n_data, tensors["gap.residual"], tensors["gap.blind"])
plt.show()

# %% [markdown]
# On empty and single-object pixels there is nothing to coordinate, and the blind network does about
# as well (on some single-object pixels slightly better: neither family contains the other). On pixels
# of two or three objects, where each step must know what the others took, its gap is several times
# larger.
#
# ## 1.3 The bound and its gradient, Eqs. (3) to (5)
#
# By Jensen's inequality, for any $q_\phi$,
#
# $$
# \log p_\theta(\mathbf{x}) \ \ge\ \mathcal{L}(\theta, \phi) =
#   \mathbb{E}_{q_\phi}\left[\log \frac{p_\theta(\mathbf{x}, \mathbf{z}, n)}{q_\phi(\mathbf{z}, n\mid\mathbf{x})}\right],
#   \qquad (3)
# $$
#
# and the gap is exactly $\mathrm{KL}[q_\phi(\mathbf{z}, n\mid\mathbf{x})\,\|\,p_\theta(\mathbf{z}, n\mid\mathbf{x})]$,
# so raising $\mathcal{L}$ in $\phi$ fits the posterior and raising it in $\theta$ fits the model. For
# $\theta$ the gradient is easy: given a posterior sample,
# $\partial_\theta \log p_\theta(\mathbf{x}, \mathbf{z}, n)$ is an unbiased estimate (a partial M-step). For
# $\phi$ it is not, because $\phi$ shapes the distribution the expectation is taken over. Writing
# $\omega^i$ for the parameters of step $i$'s sampling distributions, produced by the recurrent
# network, $(\omega^i, \mathbf{h}^i) = R_\phi(\mathbf{x}, \mathbf{h}^{i-1})$, the chain rule gives
#
# $$
# \frac{\partial \mathcal{L}}{\partial \phi} = \sum_i \frac{\partial \mathcal{L}}{\partial \omega^i}
#     \frac{\partial \omega^i}{\partial \phi}, \qquad (4)
# $$
#
# where backpropagation through $R_\phi$ supplies $\partial\omega^i/\partial\phi$, and what remains is
# $\partial\mathcal{L}/\partial\omega^i$ for
#
# $$
# \mathcal{L}(\theta, \phi) = \mathbb{E}_{q_\phi}[\ell(\theta, \phi, \mathbf{z}, n)], \qquad
# \ell = \log \frac{p_\theta(\mathbf{x}, \mathbf{z}, n)}{q_\phi(\mathbf{z}, n\mid\mathbf{x})}. \qquad (5)
# $$
#
# In the toy, Eq. (3) is computed exactly: a sum over $n$ and a Gauss-Hermite integral over the
# standard-normal noise $\xi$ that generates the brightnesses, so its autograd gradient is the
# **exact** gradient every estimator below is tested against (`toy.exact`, `toy.exact_gradient`).
#
# ## 1.4 Estimating $\partial\mathcal{L}/\partial\omega^i$, Eqs. (6) and (7)
#
# **Continuous latents: the pathwise estimator.** If $z^i = h(\xi, \omega^i)$ with noise $\xi \sim p(\xi)$
# that does not depend on $\omega^i$ (for a Gaussian, $z = \mu + \sigma\xi$), the expectation moves onto
# $p(\xi)$ and the gradient moves inside it:
#
# $$
# \frac{\partial \mathcal{L}}{\partial \omega^i} \approx
#   \frac{\partial \ell(\theta, \phi, \mathbf{z}, n)}{\partial z^i}\frac{\partial h}{\partial \omega^i}. \qquad (6)
# $$
#
# Autograd through `est.normal_rsample` computes exactly this.
#
# **Discrete latents: the score-function estimator.** $z^i_{\text{pres}}$ cannot be backpropagated
# through. Differentiating $\sum_z q(z\mid\omega)\,\ell(z)$ instead, with
# $\nabla q = q\,\nabla \log q$,
#
# $$
# \frac{\partial \mathcal{L}}{\partial \omega^i} \approx
#   \frac{\partial \log q(z^i\mid\omega^i)}{\partial \omega^i}\,\ell(\theta, \phi, \mathbf{z}, n), \qquad (7)
# $$
#
# plus the direct term $\mathbb{E}[\partial\ell/\partial\omega^i] = -\mathbb{E}[\partial \log q/\partial\omega^i] = 0$,
# which costs nothing to keep. Eq. (7) is unbiased but noisy: $\ell$ is a sum of many terms, and
# each multiplies a random score. Because the score has mean zero,
# $\mathbb{E}[b\,\partial_{\omega^i}\log q(z^i\mid\omega^i)] = b\,\partial_{\omega^i}\sum_{z} q = 0$ for
# any $b$ that is fixed before $z^i$ is drawn. Two consequences remove most of the noise, the
# "appropriately structured baselines" of the paper:
#
# 1. **A per-step learning signal.** Terms of $\ell$ fixed before step $i$ (the prior and posterior
#    terms of steps $j < i$) are such a $b$; dropping them keeps the estimator unbiased. Step $i$ is
#    credited only with what its choice can change,
#    $\ell^i = \log p(\mathbf{x}\mid\mathbf{z}) + \sum_{j \ge i}[\log p - \log q]_j$ (`est.learning_signal`).
# 2. **NVIL** {cite}`mnih2014nvil`. A baseline network $b_\psi(\mathbf{x}, \mathbf{z}^{1:i-1})$, which sees the
#    image and the latents produced so far but not $z^i$, is trained by regression on the signal,
#    $\min_\psi \mathbb{E}[(\ell^i - b_\psi)^2]$, whose minimiser $\mathbb{E}[\ell^i\mid\mathbf{x}, \mathbf{z}^{1:i-1}]$
#    removes the part of the signal the step could not have influenced. What remains is centred by a
#    running mean $c_i$ and divided by $\max(1, \sqrt{v_i})$, a running standard deviation
#    (`est.SignalNormaliser`). The statistics come from earlier batches, so centring keeps the
#    estimator exactly unbiased; the scaling is a per-step learning rate: it shrinks the score part of
#    the gradient, so it estimates a *different* vector on purpose.
#
# `est.elbo_surrogate` assembles the whole recipe into one loss whose gradient is the estimator:

# %% tags=["hide-output"]
print(inspect.getsource(est.elbo_surrogate))

# %% [markdown]
# **Beyond the paper.** Two later alternatives are available for comparison.
# *VIMCO* {cite}`mnih2016vimco` draws $K$ samples per image and optimises the importance-weighted bound
# $\mathcal{L}_K = \mathbb{E}\left[\log \tfrac{1}{K}\sum_k w_k\right]$, $w_k = p(\mathbf{x}, \mathbf{z}_k, n_k)/q(\mathbf{z}_k, n_k\mid\mathbf{x})$
# {cite}`burda2016iwae`, crediting sample $k$ with $\mathcal{L}_K - \mathcal{L}_K^{-k}$, where
# $\mathcal{L}_K^{-k}$ replaces $\log w_k$ by the mean of the other log-weights: a baseline built
# from the other samples, with nothing to learn (`est.vimco_surrogate`). The *Concrete* relaxation
# {cite}`maddison2017concrete,jang2017gumbel` replaces $z^i_{\text{pres}}$ by
# $\operatorname{sigmoid}((\text{logit} + \log u - \log(1 - u))/\tau)$, $u \sim U(0, 1)$, a
# differentiable value in $(0, 1)$ that the masks and the renderer accept, so that Eq. (6) applies
# everywhere; the price is a biased gradient of a relaxed model, and at test time the presence is
# rounded (`est.relaxed_presence(..., hard=True)`). `est.iwae_bound` evaluates trained models with
# $\mathcal{L}_K$, which approaches $\log p(\mathbf{x})$ as $K$ grows, where the ELBO alone understates
# the fit.
#
# The estimators compared below, all as named in `toy.ESTIMATORS`:
#
# | name | step $i$'s discrete choice is credited with | learned parts |
# |---|---|---|
# | `reinforce` | the whole $\ell$ (Eq. 7 as written) | none |
# | `local` | $\ell^i$ | none |
# | `baseline` | $\ell^i - b_\psi(\mathbf{x}, \mathbf{z}^{1:i-1})$ | baseline network |
# | `nvil` | $(\ell^i - b_\psi - c_i)/\max(1, \sqrt{v_i})$ | baseline network, running $c_i, v_i$ |
# | `vimco` | $\mathcal{L}_K - \mathcal{L}_K^{-k}$, for the bound $\mathcal{L}_K$ | none |
# | `relaxed` | no score term: pathwise through the Concrete $z_{\text{pres}}$ | none |
#
# ## 1.5 Are they unbiased?
#
# At the starting parameters, we fit the baseline network and the running statistics (with $q$
# frozen), compute the exact gradient, and draw many independent single-sample estimates from each
# estimator. For an unbiased estimator, the Monte Carlo mean of each of the 18 coordinates
# (6 parameters for each of 3 steps) differs from the exact value by a standard normal number of
# standard errors, $z$; jointly, since the coordinates of one estimate share their samples,
# Hotelling's $T^2 = R\,\mathbf{d}^\top \hat\Sigma^{-1}\mathbf{d}$ of the mean difference $\mathbf{d}$ is
# $\chi^2$ with 18 degrees of freedom, so $T^2/\text{dof} \approx 1$ and the p-value is uniform
# (`toy.check_mean`). VIMCO's target is the gradient of $\mathcal{L}_K$, which quadrature cannot
# reach in the full toy, so it is checked on the *collapsed* toy, where the brightnesses are integrated
# out of the model, only $n$ is inferred, and $\mathcal{L}_K$ is an exact sum over $(N+1)^K$ counts.

# %% tags=["hide-output"]
print(inspect.getsource(study.unbiasedness))

# %%
pd.DataFrame(metrics["checks"]).set_index("estimator").round(4)

# %% tags=["hide-input"]
figures.unbiasedness(study.checks(tensors), cfg.repeats, study.K_CHECK)
plt.show()

# %% [markdown]
# The score-function estimators, with and without the per-step signal, the learned baseline and the
# running centring, and VIMCO for its own bound, land on the exact gradient within their error bars:
# their $z$ values look like draws from a standard normal, and no p-value is small enough to reject
# unbiasedness (with five such tests, one p-value near 0.01 is unremarkable). Two do not, by
# construction. NVIL's
# scaling divides each step's score term by $\max(1, \sqrt{v_i})$, so it estimates a re-weighted
# gradient (a per-step learning rate, harmless for optimisation, as Sec. 1.7 shows). The Concrete
# relaxation estimates the gradient of a relaxed model, and its bias is many standard errors wide.
#
# ## 1.6 How noisy are they?
#
# Unbiasedness is only half of the story: the estimators differ in variance. We measure the total
# variance, the trace of the covariance of the gradient estimate of the mean ELBO over the data, from
# independent repetitions, for several numbers of posterior samples per pixel, at two points: the
# starting parameters, and the best parameters of the family (from Sec. 1.2), where training spends
# most of its time. VIMCO uses its $K$ samples jointly ($K \ge 2$) and estimates the gradient of
# $\mathcal{L}_K$, and the relaxation is biased; their variances are shown for comparison.

# %%
variance = pd.DataFrame(metrics["variance"])  # one row per point, estimator and number of samples
(variance.pivot_table(index=["point", "estimator"], columns="samples", values="total variance")
 .style.format("{:.3f}", na_rep="(K < 2)"))   # VIMCO is defined for K >= 2 only

# %% tags=["hide-input"]
figures.variances(variance, study.VARIANTS, cfg.sample_sizes)
plt.show()

# %%
print("variance relative to NVIL (baseline + centring), mean over sample sizes; 'presence' counts only\n"
      "the parameters of q(z_pres), the ones the score-function term drives")
pd.DataFrame(metrics["ratios"]).round(2)

# %% [markdown]
# Each refinement of Sec. 1.4 removes a share of the variance. The per-step signal and the learned
# baseline do the work; the running centring adds nothing measurable on top of a well-fitted baseline
# (a ratio near 1), and is there for when the baseline lags behind a changing $q$. The gains are
# largest on the parameters of $q(z_{\text{pres}})$, which only the score-function term reaches, and
# larger near the optimum than at the start. NVIL's scaling shrinks the estimate (and its variance)
# only while the signal's running standard deviation exceeds 1, as at the start; near the optimum it
# is inactive. VIMCO's curve at the start is not a $1/K$ line because its target, the gradient of
# $\mathcal{L}_K$, changes with $K$. Averaging $S$ independent samples divides the other curves by $S$,
# so a variance ratio between two of them is the ratio of samples (and compute) they need for the same
# precision.
#
# ## 1.7 Optimising the ELBO with each estimator
#
# Now we let each estimator drive Adam from the same starting point, with the same learning rate and
# the same number of posterior samples per pixel, and after every few steps compute the exact ELBO
# and the exact $q(n\mid x)$ of the current network. The dashed line is the best fit of the network
# family we know (the exact-gradient fit of Sec. 1.2), and the gap to $\log p(x)$ that remains there is the
# approximation error of the family, not of the estimator.

# %%
for name, seconds in metrics["fit_seconds"].items():
    print(f"{name:>9}: {seconds:5.1f} s, final exact ELBO {metrics['fits'][name]['final ELBO']:.4f}")
from myst_nb import glue  # noqa: E402

fits = pd.DataFrame(metrics["fits"]).T  # the last row: the exact-gradient fit of Sec. 1.2
kl = fits["KL[q(n|x) || p(n|x)]"].drop("exact-gradient fit")
best = fits.loc["exact-gradient fit", "KL[q(n|x) || p(n|x)]"]
close, far = kl[kl <= 2 * best], kl[kl > 2 * best]      # within twice the best fit's KL of the exact posterior
glue("posterior_close", ", ".join(close.index), display=False)
glue("posterior_far", "; ".join(f"{k} stays at {v:.3f} nats (the best fit: {best:.3f})" for k, v in far.items())
     if len(far) else "none stays further", display=False)
fits.round(4)

# %% tags=["hide-input"]
figures.training(study.curves(tensors), metrics["log_px"], metrics["fits"]["exact-gradient fit"]["log p(x) - ELBO"])
plt.show()

# %% tags=["hide-input"]
figures.learned_posterior(scene, study.grid(), tensors["q_grid.nvil"], x_data)
plt.show()

# %% [markdown]
# The unbiased estimators all approach the exact-gradient fit, NVIL fastest and closest, the plain
# score function slowest and noisiest. The learned $q(n\mid x)$ follows the exact posterior, including the uncertain
# regions between the bumps, and it is amortised: one network answers for every $x$, not only the
# training pixels. VIMCO optimises $\mathcal{L}_K$ rather than the ELBO, and the optimum of
# $\mathcal{L}_K$ is a broader $q$, so its ELBO and counts are not expected to be the best (it is the
# better choice when $\mathcal{L}_K$ is the objective). The relaxation optimises a relaxed model, and
# its rounded network pays the bias seen in Sec. 1.5.
#
# ## 1.8 Occam's razor: fewer steps when the prior asks for fewer objects
#
# The paper's count inference rests on two opposing pressures: explaining the image, and the cost of
# instantiating an object under the prior. We train the same network with NVIL on the same pixels
# under priors $p_N(n) \propto \rho^n$ that favour fewer and fewer objects, and read off how often each
# inference step is used, $q(\text{step } i \text{ finds an object}) = q(n \ge i\mid x)$, against the
# exact posterior $p(n \ge i\mid x)$.

# %%
occam = pd.DataFrame(metrics["occam"])  # one row per prior rho and step
occam.pivot_table(index="rho", columns="step", values=["learned q", "exact p"]).sort_index(ascending=False).round(3)

# %% tags=["hide-input"]
figures.occam(occam, n_data)
plt.show()

# %% [markdown]
# As $\rho$ falls, the later steps are switched off first: the third step, which the data rarely
# need, goes silent long before the first. The learned network tracks the exact posterior throughout,
# so the variational objective, trained with the score-function estimator, inherits the model's
# Occam's razor, the effect that lets AIR stop after the right number of steps in Sec. II.
#
# ## Recap
#
# - Eq. (1) defines models with a random number of objects; Eq. (2) writes the count as a unary
#   `z_pres` code, so that inference is a recurrent loop that stops at the first zero. In `airlib`:
#   `est.sample_presence`, `est.sample_presence_step`, `est.step_mask`, `est.object_mask`,
#   `est.count`, `est.unary`, `est.presence_log_prob`, `est.presence_prior_probs`.
# - Each step must condition on what earlier steps explained (Sec. 1.2: without it the posterior gap
#   on multi-object pixels grows several-fold).
# - Eq. (6): `est.normal_rsample`, `est.normal_log_prob`. Eq. (7) with NVIL's variance reduction:
#   `est.learning_signal` (per-step signal), `est.BaselineMLP` and `est.baseline_loss` (learned,
#   input-dependent baseline), `est.SignalNormaliser` (running centring and scaling), and
#   `est.score_function_surrogate`, all assembled by `est.elbo_surrogate`, the one surrogate that AIR
#   and the 3D and table-top networks of the later chapters train with.
# - Beyond the paper: `est.vimco_surrogate`, `est.relaxed_presence`; for evaluation, `est.iwae_bound`.
# - On the exact toy, every score-function variant is unbiased (Sec. 1.5), each refinement cuts the
#   variance (Sec. 1.6), and {glue:text}`posterior_close` drive $q(n\mid x)$ to within twice the best fit's
#   KL of the exact posterior (Sec. 1.7; {glue:text}`posterior_far`), and the
#   learned network switches steps off as the prior asks for fewer objects (Sec. 1.8).

# %%
print(f"profile {profile!r}: executed in {time.time() - started:.0f} s (the study: {record['wall_time_s']:.0f} s)")
