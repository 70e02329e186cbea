"""The Deep GA of Such et al. 2017, "Deep Neuroevolution: Genetic Algorithms Are a Competitive
Alternative for Training Deep Neural Networks for Reinforcement Learning" (arXiv:1712.06567),
Algorithm 1, with GA-NS (sec. 4.3) as an option.

One generation:

1. Population: generation 0 is ``N`` fresh initialisations; afterwards the elite plus ``N - 1``
   children, each a uniformly drawn parent among the top ``T`` of the previous generation,
   mutated once: ``theta' = theta + sigma * eps`` over all weights (no crossover). In the compact
   encoding (:mod:`.encoding`) a child is its parent's seed list plus one new seed.
2. Evaluation: every individual plays ``episodes`` episodes, each with its own seed; the
   population is sharded over ``pool`` (``pool.map_batches``), every worker rebuilding weights
   from seeds and stepping its whole slice as one batch (:mod:`.evaluate`).
3. Selection: individuals are ranked by reward, or by novelty / a reward-novelty mix
   (:mod:`.novelty`); the top ``T`` become the next generation's parents.
4. Elitism: the top ``elite_candidates`` by reward (and the previous elite) play
   ``elite_episodes`` more episodes each; the best mean becomes the elite, copied unchanged into
   the next generation.

Every random choice (seeds of initialisations, mutations, parents and episodes) comes from one
generator seeded by the run's seed and lives on the driver, so a run is reproducible whatever
the number of workers. The state between generations is small (genomes, the archive, the
generator), which :meth:`DeepGA.state` exposes for checkpoints.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from searchlab.methods.deep_ga.encoding import SEED_BITS, Genome
from searchlab.methods.deep_ga.evaluate import Evaluation, Problem, Task, evaluate_batch
from searchlab.methods.deep_ga.novelty import Archive, novelty, selection_score
from searchlab.methods.deep_ga.settings import GAConfig
from searchlab.workloads.api import Pool, SerialPool


@dataclass(frozen=True)
class Generation:
    """What one generation reports."""

    generation: int
    best_score: float  # best reward among this generation's individuals
    mean_score: float
    elite_score: float  # the elite's mean over its re-evaluation episodes
    frames: int  # cumulative, re-evaluation included
    wall_time: float  # cumulative seconds
    archive_size: int
    best_novelty: float


class DeepGA:
    """One GA run: call :meth:`step` once per generation."""

    def __init__(self, config: GAConfig, seed: int, pool: Pool | None = None,
                 device: str = "cpu") -> None:
        self.config = config
        self.pool = pool or SerialPool()
        self.problem = problem_of(config, device)
        env = self.problem.make_env()
        self.n_params = self.problem.policy(env).n_params
        self.archive = Archive(env.bc_dim)
        self.rng = np.random.default_rng(seed)
        self.generation = 0
        self.frames = 0
        self.wall_time = 0.0
        self.parents: list[Genome] = []
        self.population: list[Genome] = []  # the last generation's, and its rewards
        self.scores = np.zeros(0)
        self.elite: Genome | None = None
        self.elite_score = -np.inf
        self.best_ever = -np.inf
        self.behavior = np.zeros((0, env.bc_dim))  # the last generation's, for pictures

    # -- one generation -------------------------------------------------------------------
    def step(self) -> Generation:
        c = self.config
        start = time.perf_counter()

        # 1. the population: fresh initialisations, or the elite plus mutated parents
        if self.elite is None:
            population = [(self._seed(),) for _ in range(c.population)]
        else:
            picks = self.rng.integers(len(self.parents), size=c.population - 1)
            children = [self.parents[k] + (self._seed(),) for k in np.sort(picks)]
            population = [self.elite, *children]  # children of one parent sit together

        # 2. evaluate every individual on its own episodes, sharded over the pool
        evals = self.evaluate(population, c.episodes)
        reward = np.array([e.score for e in evals])
        self.population, self.scores = population, reward
        self.best_ever = max(self.best_ever, float(reward.max()))

        # 3. truncation selection by reward, novelty, or a mix
        nov = None
        behavior = self.behavior = np.array([e.behavior for e in evals])
        if c.novelty_weight > 0:
            nov = novelty(behavior, self.archive.points, c.novelty_k)
            self.archive.add(behavior[self.rng.random(len(behavior)) < c.archive_prob])
        order = np.argsort(-selection_score(reward, nov, c.novelty_weight), kind="stable")
        self.parents = [population[i] for i in order[:c.truncation]]

        # 4. elitism: re-evaluate the top candidates by reward (and the old elite)
        by_reward = np.argsort(-reward, kind="stable")[:c.elite_candidates]
        candidates = list(dict.fromkeys([population[i] for i in by_reward]
                                        + ([self.elite] if self.elite else [])))
        if c.elite_episodes > 0:
            scores = [e.score for e in self.evaluate(candidates, c.elite_episodes)]
        else:
            scores = [float(reward[by_reward[0]])] + [-np.inf] * (len(candidates) - 1)
        best = int(np.argmax(scores))
        self.elite, self.elite_score = candidates[best], float(scores[best])

        self.generation += 1
        self.wall_time += time.perf_counter() - start
        return Generation(self.generation, float(reward.max()), float(reward.mean()),
                          self.elite_score, self.frames, self.wall_time, len(self.archive),
                          float(nov.max()) if nov is not None else 0.0)

    def run(self) -> list[Generation]:
        """Step until the generation, frame or target budget is spent."""
        history = []
        while not self.finished:
            history.append(self.step())
        return history

    @property
    def finished(self) -> bool:
        c = self.config
        return (self.generation >= c.generations
                or (c.max_frames is not None and self.frames >= c.max_frames)
                or (c.target_score is not None and self.elite_score >= c.target_score))

    # -- helpers ----------------------------------------------------------------------------
    def evaluate(self, genomes: list[Genome], episodes: int) -> list[Evaluation]:
        """Evaluate ``genomes`` on ``episodes`` fresh episode seeds each (counted in frames)."""
        seeds = self.rng.integers(2**SEED_BITS, size=(len(genomes), episodes))
        tasks = [Task(self.problem, g, tuple(int(s) for s in row))
                 for g, row in zip(genomes, seeds)]
        evals = self.pool.map_batches(evaluate_batch, tasks)
        self.frames += sum(e.frames for e in evals)
        return evals

    def final_evaluation(self, episodes: int) -> Evaluation:
        """The elite on ``episodes`` fresh episodes (frames not counted in the budget)."""
        if self.elite is None:
            raise ValueError("no elite yet: call step() first")
        frames = self.frames
        out = self.evaluate([self.elite], episodes)[0]
        self.frames = frames
        return out

    def _seed(self) -> int:
        return int(self.rng.integers(2**SEED_BITS))

    def state(self) -> dict[str, Any]:
        """Everything needed to continue this run (genomes are short lists of ints)."""
        return {"generation": self.generation, "frames": self.frames, "wall_time": self.wall_time,
                "parents": [list(p) for p in self.parents],
                "elite": list(self.elite) if self.elite else None,
                "elite_score": self.elite_score, "best_ever": self.best_ever,
                "archive": self.archive.points.tolist(), "rng": self.rng.bit_generator.state}

    def restore(self, state: dict[str, Any]) -> None:
        self.generation, self.frames = state["generation"], state["frames"]
        self.wall_time = state["wall_time"]
        self.parents = [tuple(p) for p in state["parents"]]
        self.elite = tuple(state["elite"]) if state["elite"] else None
        self.elite_score, self.best_ever = state["elite_score"], state["best_ever"]
        self.archive.points = np.array(state["archive"]).reshape(-1, self.archive.points.shape[1])
        self.rng.bit_generator.state = state["rng"]


def problem_of(config: GAConfig, device: str = "cpu") -> Problem:
    """What the workers need of ``config`` (plain data: it travels to every pool worker)."""
    return Problem(env=config.env, hidden=tuple(config.hidden), activation=config.activation,
                   sigma=config.sigma, max_steps=config.max_steps, backend=config.backend,
                   device=device if config.backend == "torch" else "cpu",
                   cache_mb=config.cache_mb, env_args=tuple(sorted(config.env_args.items())),
                   policy_ref=config.policy, behavior=config.behavior, path=config.path,
                   vectorize=config.vectorize)


def generation_metrics(g: Generation) -> dict[str, float]:
    return {k: float(v) for k, v in asdict(g).items()}
