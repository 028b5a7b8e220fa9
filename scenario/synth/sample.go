package synth

import (
	"math"
	"math/rand/v2"
)

// The samplers below are exact (inversion for small means, Hörmann's
// transformed rejection for large ones), so that a rare count is as rare
// as in real traffic, and deterministic for a given source.

// poisson draws a Poisson count with mean lambda.
func poisson(r *rand.Rand, lambda float64) int64 {
	switch {
	case lambda <= 0:
		return 0
	case lambda < 10:
		// Inversion by sequential search.
		u := r.Float64()
		p := math.Exp(-lambda)
		var k int64
		for u > p {
			u -= p
			k++
			p *= lambda / float64(k)
			if p == 0 {
				break
			}
		}
		return k
	}
	// PTRS: W. Hörmann, "The transformed rejection method for generating
	// Poisson random variables", Insurance: Mathematics and Economics 12
	// (1993).
	slam := math.Sqrt(lambda)
	loglam := math.Log(lambda)
	b := 0.931 + 2.53*slam
	a := -0.059 + 0.02483*b
	invAlpha := 1.1239 + 1.1328/(b-3.4)
	vr := 0.9277 - 3.6224/(b-2)
	for {
		u := r.Float64() - 0.5
		v := r.Float64()
		us := 0.5 - math.Abs(u)
		k := math.Floor((2*a/us+b)*u + lambda + 0.43)
		if us >= 0.07 && v <= vr {
			return int64(k)
		}
		if k < 0 || (us < 0.013 && v > us) {
			continue
		}
		lg, _ := math.Lgamma(k + 1)
		if math.Log(v)+math.Log(invAlpha)-math.Log(a/(us*us)+b) <= -lambda+k*loglam-lg {
			return int64(k)
		}
	}
}

// binomial draws the number of successes in n trials of probability p.
func binomial(r *rand.Rand, n int64, p float64) int64 {
	switch {
	case n <= 0 || p <= 0:
		return 0
	case p >= 1:
		return n
	case p > 0.5:
		return n - binomial(r, n, 1-p)
	}
	if float64(n)*p < 10 {
		// Inversion by sequential search.
		q := 1 - p
		s := p / q
		a := float64(n+1) * s
		prob := math.Pow(q, float64(n))
		u := r.Float64()
		var x int64
		for u > prob && x < n {
			u -= prob
			x++
			prob *= a/float64(x) - s
		}
		return x
	}
	// BTRS: W. Hörmann, "The generation of binomial random variates",
	// Journal of Statistical Computation and Simulation 46 (1993).
	nf := float64(n)
	q := 1 - p
	spq := math.Sqrt(nf * p * q)
	b := 1.15 + 2.53*spq
	a := -0.0873 + 0.0248*b + 0.01*p
	c := nf*p + 0.5
	vr := 0.92 - 4.2/b
	alpha := (2.83 + 5.1/b) * spq
	lpq := math.Log(p / q)
	m := math.Floor((nf + 1) * p)
	lm, _ := math.Lgamma(m + 1)
	lnm, _ := math.Lgamma(nf - m + 1)
	h := lm + lnm
	for {
		u := r.Float64() - 0.5
		v := r.Float64()
		us := 0.5 - math.Abs(u)
		k := math.Floor((2*a/us+b)*u + c)
		if k < 0 || k > nf {
			continue
		}
		if us >= 0.07 && v <= vr {
			return int64(k)
		}
		v = math.Log(v * alpha / (a/(us*us) + b))
		lk, _ := math.Lgamma(k + 1)
		lnk, _ := math.Lgamma(nf - k + 1)
		if v <= h-lk-lnk+(k-m)*lpq {
			return int64(k)
		}
	}
}

// gamma draws from a gamma distribution with the given shape and scale 1
// (Marsaglia and Tsang, 2000).
func gamma(r *rand.Rand, shape float64) float64 {
	if shape < 1 {
		// Boost: Gamma(a) = Gamma(a+1) * U^(1/a).
		return gamma(r, shape+1) * math.Pow(r.Float64(), 1/shape)
	}
	d := shape - 1.0/3
	c := 1 / math.Sqrt(9*d)
	for {
		x := r.NormFloat64()
		v := 1 + c*x
		if v <= 0 {
			continue
		}
		v = v * v * v
		u := r.Float64()
		if u < 1-0.0331*x*x*x*x || math.Log(u) < 0.5*x*x+d*(1-v+math.Log(v)) {
			return d * v
		}
	}
}

// negBinomial draws an overdispersed count with the given mean: Poisson
// with a gamma-distributed rate of shape k (variance mean + mean²/k). k 0
// means plain Poisson.
func negBinomial(r *rand.Rand, mean, k float64) int64 {
	if k <= 0 || mean <= 0 {
		return poisson(r, mean)
	}
	return poisson(r, mean*gamma(r, k)/k)
}

// uniform draws from [lo, hi).
func uniform(r *rand.Rand, lo, hi float64) float64 { return lo + (hi-lo)*r.Float64() }

// logUniform draws from [lo, hi) evenly on a log scale (for rates, whose
// plausible range spans orders of magnitude).
func logUniform(r *rand.Rand, lo, hi float64) float64 {
	return math.Exp(uniform(r, math.Log(lo), math.Log(hi)))
}

// intIn draws an integer from [lo, hi].
func intIn(r *rand.Rand, lo, hi int) int {
	if hi <= lo {
		return lo
	}
	return lo + r.IntN(hi-lo+1)
}
