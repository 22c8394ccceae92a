"""Agreement between raters and with the model (kappa, Krippendorff alpha, ICC, Dice), the review queue and
``lusapp agreement``; Qt-free. docs/agreement.md."""
