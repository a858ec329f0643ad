"""
A2D: sub-policy widths chosen by a FLOPs-penalised search, and students distilled from a teacher's actor and critic.

distillation.py: the closed-form KL between the teacher's and the student's Gaussians (before the
squash) and the MSE to the teacher's Q, as terms added to a student SAC's own losses.
search.py: a width search over the actor's hidden layers (a Gumbel-softmax over candidate widths,
the FLOPs of the expected architecture in the loss), then the chosen width distilled.
"""
