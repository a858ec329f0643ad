"""
The paper's comparisons (Table IV): cheap policies made the obvious ways, at matched FLOPs.

`matched`: the width whose FLOPs per inference equal the asymmetric agent's average (pi_fit is
SAC from scratch at that width). `imitation`: the teacher's demonstrations and the two ways to
distil them into that width, behaviour cloning and GAIL with our SAC as the generator.
"""
