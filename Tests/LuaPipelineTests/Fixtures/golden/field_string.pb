
İIË§1½‹ásÿYÕG#R
s"one