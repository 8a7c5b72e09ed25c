-- expect: load line 2
os.execute("touch /tmp/moonbrot-escape-marker")
function pixel(x, y) return 1 end
