"""Ray adapters: the Tune driver of any method, trials, pools."""
