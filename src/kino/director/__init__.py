"""The toyworld director: a control that plans and draws what a prompt in toyworld's words asks
for, for the models that learnt toyworld (kino's own), outside the generation core.

``layout`` plans a box per named object per frame and turns it into a cross-attention bias;
``motion`` draws a still first frame, moves its objects and the camera through the latents and
samples again from part-way; ``shaping`` redraws each object as the shape its words name;
``selfcheck`` checks a draft against the plan and draws it again when it strays; ``backdrop``
paints toyworld's backdrops. ``kino.pipelines.text_to_video`` calls it when a request asks for it
(``layout``); ``kino.core`` and ``kino.backends`` never import it. Figures made with it are labelled
"with the director" (kino.evaluation).
"""
