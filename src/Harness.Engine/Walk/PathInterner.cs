using System.Collections.Immutable;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Harness.Engine.Walk;

/// <summary>
/// Hands out one shared array per distinct path: the packets of a capture take few different paths, and an outcome's
/// path is immutable, so equal paths share their steps' array instead of each outcome copying its own. The steps are
/// the compiled rules' and chains' own objects, so two paths are equal when they hold the same objects in order.
/// Bounded: past <see cref="Capacity"/> distinct paths, further ones get a copy each.
/// </summary>
internal sealed class PathInterner
{
    private const int Capacity = 4096;

    private readonly Dictionary<int, PathStep[][]> _byHash = [];
    private int _count;

    public ImmutableArray<PathStep> Intern(List<PathStep> path)
    {
        if (path.Count == 0) return ImmutableArray<PathStep>.Empty;
        var steps = CollectionsMarshal.AsSpan(path);
        int hash = HashOf(steps);
        if (_byHash.TryGetValue(hash, out var bucket))
        {
            foreach (var known in bucket)
                if (SameSteps(known, steps)) return ImmutableCollectionsMarshal.AsImmutableArray(known);
        }
        var copy = steps.ToArray();
        if (_count < Capacity)
        {
            _byHash[hash] = bucket is null ? [copy] : [.. bucket, copy];
            _count++;
        }
        return ImmutableCollectionsMarshal.AsImmutableArray(copy);
    }

    private static int HashOf(ReadOnlySpan<PathStep> steps)
    {
        var hash = new HashCode();
        foreach (var step in steps) hash.Add(RuntimeHelpers.GetHashCode(step));
        return hash.ToHashCode();
    }

    private static bool SameSteps(PathStep[] known, ReadOnlySpan<PathStep> steps)
    {
        if (known.Length != steps.Length) return false;
        for (int i = 0; i < known.Length; i++)
            if (!ReferenceEquals(known[i], steps[i])) return false;
        return true;
    }
}
