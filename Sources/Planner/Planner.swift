// Distortion tables and the multiple-choice knapsack that choose block-ReLU sizes
// arrive with issue 4; this target holds the stage's place.
import IR
