# Draws rtrec-sim's learning curve: gnuplot -e "csv='curve.csv'; png='curve.png'" tools/learning_curve.gp
# Columns (sim/simulation.h WindowCsvHeader): 3 end_s, 8 served_ctr,
# 9 served_expected_ctr, 10 oracle_ctr, 11 random_ctr, 18 after_shift.
if (!exists("csv")) csv = 'learning_curve.csv'
if (!exists("png")) png = 'learning_curve.png'
if (!exists("shift")) shift = -1
set datafile separator ','
set terminal pngcairo size 1000,560 noenhanced font ',11'
set output png
set title 'rtrec learning curve: click rate per shown item (rtrec-sim)'
set xlabel 'seconds'
set ylabel 'click rate'
set key outside right top
set grid
set yrange [0:*]
if (shift >= 0) set arrow from shift, graph 0 to shift, graph 1 nohead dashtype 2 lc rgb '#888888'
if (shift >= 0) set label 'preference shift' at shift, graph 0.95 offset 0.5,0 tc rgb '#555555'
plot csv using 3:10 skip 1 with lines lw 2 lc rgb '#2ca02c' title 'oracle', \
     csv using 3:9 skip 1 with linespoints lw 2 pt 7 ps 0.6 lc rgb '#1f77b4' title 'rtrec (served, expected)', \
     csv using 3:8 skip 1 with points pt 1 lc rgb '#1f77b4' title 'rtrec (sampled clicks)', \
     csv using 3:11 skip 1 with lines lw 2 lc rgb '#d62728' title 'uniform random'
