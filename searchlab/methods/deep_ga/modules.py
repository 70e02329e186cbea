"""A user's torch module as a batched Deep GA policy (``policy: package.module:function``).

The protocol: ``function(observation_space, action_space) -> torch.nn.Module``, called with the
environment's Gymnasium spaces. The module maps a batch of observations ``(B, *obs_shape)``
(float32; a ``Box`` observation in its own shape, any other space flattened) to

- ``(B, n)`` scores for ``Discrete(n)`` actions (the action is the argmax, as in Such et al.);
- ``(B, *action_shape)`` actions for a ``Box`` (clipped into the box; write ``tanh`` and scale
  in the module for bounded actions).

The GA evolves every parameter (``module.parameters()``); buffers stay as the factory made them.
An individual's initial parameters are the module's own initialisation, drawn with
``torch.manual_seed(seed)`` around the factory call (the global generator is left as it was), so
the compact seed encoding (:mod:`.encoding`) rebuilds any individual from its seeds.

Every row of a batch carries its own parameters: one forward pass over the whole batch is
``torch.func.vmap`` of ``torch.func.functional_call`` over the stacked parameter vectors, each
row called with a batch of one, so the module's ``forward`` is written for ordinary batches.
``vmap`` needs a forward without data-dependent Python control flow or in-place changes of its
inputs: linear and convolution layers, activations, ``LayerNorm`` and ``BatchNorm`` (the module is
put in ``eval()`` mode, so it uses its running statistics; dropout is off) work; ``LSTMCell`` has
no batching rule in torch and is refused at preflight. The policy sees one observation at a
time: it keeps no state between steps.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from searchlab.refs import RefError, first_line


class ModulePolicy:
    """A user's module over the spaces ``spaces`` (:class:`~.gym_envs.Spaces`), as a policy with
    the interface of :class:`~.policies.Policy` (``init``, ``layers``, ``forward``, ``act``)."""

    def __init__(self, factory: Callable[..., Any], spaces: Any, ref: str = "policy",
                 device: str = "cpu") -> None:
        import torch

        self.factory, self.spaces, self.ref, self.device = factory, spaces, ref, device
        template = self._build(0)
        self.names = [n for n, _ in template.named_parameters()]
        params = [p for _, p in template.named_parameters()]
        if not params:
            raise RefError(f"policy {ref!r} has no parameters to evolve", "policy")
        self.shapes = [tuple(p.shape) for p in params]
        self.sizes = [int(p.numel()) for p in params]
        self.n_params = int(sum(self.sizes))
        self.module = template.to(device).eval()  # inference: no dropout, running statistics
        self.buffers = {n: b.to(device) for n, b in template.named_buffers()}
        self.discrete = spaces.n_actions > 0
        self._low = self._high = None
        if not self.discrete and spaces.low is not None:
            self._low = torch.as_tensor(spaces.low, dtype=torch.float32, device=device)
            self._high = torch.as_tensor(spaces.high, dtype=torch.float32, device=device)
        self._call = self._vmapped()

    def _build(self, seed: int) -> Any:
        import torch

        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            try:
                module = self.factory(self.spaces.observation_space, self.spaces.action_space)
            except Exception as e:  # noqa: BLE001 - the user's factory: say whose and why
                raise RefError(f"policy {self.ref!r}: building the module raised "
                               f"{type(e).__name__}: {e}", "policy") from None
        if not isinstance(module, torch.nn.Module):
            raise RefError(f"policy {self.ref!r} returned a {type(module).__name__}, not a "
                           "torch.nn.Module", "policy")
        return module

    def _vmapped(self) -> Callable[..., Any]:
        from torch.func import functional_call, vmap

        module, buffers = self.module, self.buffers

        def one(params: dict[str, Any], x: Any) -> Any:
            return functional_call(module, (params, buffers), (x.unsqueeze(0),)).squeeze(0)

        return vmap(one)

    # -- the Policy interface ----------------------------------------------------------------
    def init(self, seed: int) -> np.ndarray:
        """The module's own initial parameters under ``torch.manual_seed(seed)``, flat float32."""
        import torch

        module = self._build(seed)
        with torch.no_grad():
            flat = torch.cat([p.detach().reshape(-1).float().cpu()
                              for _, p in module.named_parameters()])
        if flat.numel() != self.n_params:
            raise RefError(f"policy {self.ref!r} builds modules of different sizes from "
                           "different seeds", "policy")
        return flat.numpy().astype(np.float32, copy=False)

    def layers(self, flat: Any) -> dict[str, Any]:
        """Stacked flat parameters ``(B, n_params)`` as ``{name: (B, *shape)}`` views."""
        import torch

        t = flat if isinstance(flat, torch.Tensor) else torch.from_numpy(np.ascontiguousarray(flat))
        t = t.to(self.device)
        out, offset = {}, 0
        for name, shape, size in zip(self.names, self.shapes, self.sizes):
            out[name] = t[:, offset:offset + size].reshape(-1, *shape)
            offset += size
        return out

    def forward(self, layers: dict[str, Any], obs: Any) -> np.ndarray:
        """Every row's action (numpy), from :meth:`layers` and observations ``(B, obs_dim)``."""
        import torch

        x = obs if isinstance(obs, torch.Tensor) else torch.from_numpy(np.asarray(obs))
        x = x.to(self.device, torch.float32).reshape(-1, *self.spaces.obs_shape)
        with torch.no_grad():
            try:
                out = self._call(layers, x)
            except Exception as e:  # noqa: BLE001 - the user's forward under vmap
                raise RefError(f"policy {self.ref!r}: the forward pass raised "
                               f"{type(e).__name__}: {first_line(e)}", "policy") from None
        return self._actions(out)

    def act(self, flat: Any, obs: Any) -> np.ndarray:
        return self.forward(self.layers(flat), obs)

    def _actions(self, out: Any) -> np.ndarray:
        import torch

        rows = out.shape[0]
        if self.discrete:
            n = self.spaces.n_actions
            if tuple(out.shape[1:]) != (n,):
                raise RefError(f"policy {self.ref!r} returned shape {tuple(out.shape[1:])} per "
                               f"observation; Discrete({n}) actions need {n} scores", "policy")
            return out.argmax(-1).cpu().numpy()
        shape = self.spaces.act_shape
        if int(np.prod(out.shape[1:])) != self.spaces.act_dim:
            raise RefError(f"policy {self.ref!r} returned shape {tuple(out.shape[1:])} per "
                           f"observation; the action space needs {shape}", "policy")
        a = out.reshape(rows, -1).float()
        if self._low is not None and self._high is not None:
            a = torch.maximum(torch.minimum(a, self._high), self._low)
        return a.cpu().numpy()

